// The signer recovery the fake Hyperliquid needs, done with our libsecp256k1 binding on the action exactly as posted;
// and random test wallets. (The fake itself knows no crypto: it takes the recovery as a closure.)

import Foundation
import Venues

extension FakeHyperliquid {
    /// A fake Hyperliquid that recovers signers with libsecp256k1 from the action exactly as posted.
    public static func recovering(isMainnet: Bool = true) -> FakeHyperliquid {
        FakeHyperliquid(isMainnet: isMainnet) { rawAction, nonce, vault, expiresAfter, r, s, v, mainnet in
            guard let secp = try? Secp256k1.load(), let action = try? MessagePackValue(json: rawAction),
                let signature = RecoverableSignature(rHex: r, sHex: s, v: UInt8(clamping: v))
            else { return nil }
            let signer = try? HyperliquidSigning.recoverL1Signer(
                action: action,
                nonce: nonce,
                vaultAddress: vault.flatMap(EthereumAddress.init),
                expiresAfter: expiresAfter,
                isMainnet: mainnet,
                signature: signature,
                secp: secp
            )
            return signer?.hex
        }
    }
}

/// A Hyperliquid wallet for tests: a random private key and its address.
public struct TestWallet: Sendable {
    public let privateKeyHex: String
    public let address: String

    public init() throws {
        let secp = try Secp256k1.load()
        var key = [UInt8](repeating: 0, count: 32)
        repeat { for index in key.indices { key[index] = UInt8.random(in: 0...255) } } while !key.withUnsafeBytes { secp.isValidPrivateKey($0) }
        self.privateKeyHex = "0x" + key.map { String(format: "%02x", $0) }.joined()
        self.address = try key.withUnsafeBytes { try secp.address(privateKey: $0) }.hex
    }
}
