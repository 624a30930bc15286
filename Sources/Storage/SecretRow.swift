// A row of `vault_secrets`: one sealed secret and what it is bound to. Accounts, rotation and backups all use it.

import Foundation
import Vault

struct SecretRow: Codable {
    var id: UUID
    var ownerId: UUID
    var purpose: String
    var ciphertext: Data
    var nonce: Data
    var wrappedKey: Data
    var kekProvider: String
    var kekVersion: Int
    var formatVersion: Int
    var createdAt: Date

    init(id: UUID, purpose: String, ownerID: UUID, sealed: SealedSecret, createdAt: Date = Date()) {
        self.id = id
        self.ownerId = ownerID
        self.purpose = purpose
        self.ciphertext = Data(sealed.ciphertext)
        self.nonce = Data(sealed.nonce)
        self.wrappedKey = Data(sealed.wrappedKey)
        self.kekProvider = sealed.kekProvider
        self.kekVersion = sealed.kekVersion
        self.formatVersion = sealed.formatVersion
        self.createdAt = createdAt
    }

    var sealed: SealedSecret {
        SealedSecret(
            ciphertext: Array(self.ciphertext),
            nonce: Array(self.nonce),
            wrappedKey: Array(self.wrappedKey),
            kekProvider: self.kekProvider,
            kekVersion: self.kekVersion,
            formatVersion: self.formatVersion
        )
    }

    /// The context the secret is sealed under; its record id is the row's own id.
    var context: SecretContext { AccountStore.secretContext(purpose: self.purpose, ownerID: self.ownerId, secretID: self.id) }
}
