// A throw-away CA and a server certificate for localhost / 127.0.0.1, generated in the test.

import Crypto
import Foundation
import SwiftASN1
import Vault
import X509

enum TestCertificate {
    struct Files {
        let caCertificate: URL
        let certificate: URL
        let privateKey: URL
    }

    /// Write a CA, a leaf certificate signed by it, and the leaf's key (0600) into `directory`.
    static func generate(in directory: TemporaryDirectory) throws -> Files {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("Tradekeep Test CA \(UUID().uuidString.prefix(8))") }
        let ca = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86400,
            issuer: caName,
            subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey)
        )
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86400,
            issuer: caName,
            subject: try DistinguishedName { CommonName("localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey)
        )
        let files = Files(
            caCertificate: directory.appending("ca.pem"),
            certificate: directory.appending("server.pem"),
            privateKey: directory.appending("server-key.pem")
        )
        try SecureFile.write(Array(try ca.serializeAsPEM().pemString.utf8), to: files.caCertificate)
        try SecureFile.write(Array(try leaf.serializeAsPEM().pemString.utf8), to: files.certificate)
        try SecureFile.write(Array(leafKey.pemRepresentation.utf8), to: files.privateKey)
        return files
    }

    /// The leaf certificate and key only.
    static func write(to directory: TemporaryDirectory) throws -> (certificate: URL, key: URL) {
        let files = try generate(in: directory)
        return (files.certificate, files.privateKey)
    }
}
