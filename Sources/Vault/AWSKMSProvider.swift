// The `aws-kms` provider: data keys from KMS GenerateDataKey, opened with Decrypt, each call bound to an
// EncryptionContext naming purpose, owner and record. Any KMS-compatible endpoint; SigV4-signed.

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

public struct KMSError: Error, Equatable, CustomStringConvertible {
    public let type: String
    public let message: String
    public let key: String

    public var description: String {
        switch self.type {
        case "NotFoundException": "the KMS key \(self.key) does not exist (\(self.message))"
        case "DisabledException", "KMSInvalidStateException": "the KMS key \(self.key) cannot be used: \(self.message)"
        case "InvalidCiphertextException":
            "KMS refused to decrypt: the data key does not belong to this record (wrong encryption context) or is damaged"
        case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException":
            "KMS refused the credentials (\(self.type)): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key policy"
        case "unreachable": "the KMS endpoint cannot be reached: \(self.message)"
        default: "KMS error \(self.type): \(self.message)"
        }
    }
}

public final class AWSKMSProvider: KeyEncryptionKeyProvider {
    public let kind = "aws-kms"
    public let region: String
    public let endpoint: URL
    let credentials: AWSCredentials
    let client: HTTPClient
    let timeout: TimeAmount

    public init(region: String, endpoint: URL? = nil, credentials: AWSCredentials, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(10)) {
        self.region = region
        self.endpoint = endpoint ?? URL(string: "https://kms.\(region).amazonaws.com")!
        self.credentials = credentials
        self.client = client
        self.timeout = timeout
    }

    /// The EncryptionContext of a secret: KMS logs it with every call and refuses a mismatch on Decrypt.
    static func encryptionContext(_ context: SecretContext) -> [String: String] {
        ["purpose": context.purpose, "owner": context.ownerID, "record": context.recordID]
    }

    public func generateDataKey(key: String, context: SecretContext) async throws -> (dataKey: SecretBytes, wrapped: [UInt8]) {
        let answer = try await self.call(
            "GenerateDataKey",
            key: key,
            [
                "KeyId": key, "KeySpec": "AES_256", "EncryptionContext": Self.encryptionContext(context),
            ]
        )
        guard var plaintext = (answer["Plaintext"] as? String).flatMap(Base64.decode), plaintext.count == 32,
            let blob = (answer["CiphertextBlob"] as? String).flatMap(Base64.decode)
        else { throw KMSError(type: "MalformedResponse", message: "GenerateDataKey answered without a 32-byte data key", key: key) }
        defer { plaintext.resetBytes() }
        return (SecretBytes(copying: plaintext), blob)
    }

    public func wrap(_ dataKey: SecretBytes, key: String, context: SecretContext) async throws -> [UInt8] {
        let plaintext = dataKey.withUnsafeBytes { Data($0).base64EncodedString() }
        let answer = try await self.call(
            "Encrypt",
            key: key,
            ["KeyId": key, "Plaintext": plaintext, "EncryptionContext": Self.encryptionContext(context)]
        )
        guard let blob = (answer["CiphertextBlob"] as? String).flatMap(Base64.decode) else {
            throw KMSError(type: "MalformedResponse", message: "Encrypt answered without a ciphertext", key: key)
        }
        return blob
    }

    public func unwrap(_ wrapped: [UInt8], key: String, context: SecretContext) async throws -> SecretBytes {
        let answer = try await self.call(
            "Decrypt",
            key: key,
            [
                "KeyId": key, "CiphertextBlob": Data(wrapped).base64EncodedString(), "EncryptionContext": Self.encryptionContext(context),
            ]
        )
        guard var plaintext = (answer["Plaintext"] as? String).flatMap(Base64.decode) else {
            throw KMSError(type: "MalformedResponse", message: "Decrypt answered without a plaintext", key: key)
        }
        defer { plaintext.resetBytes() }
        return SecretBytes(copying: plaintext)
    }

    /// `vault rotate`: a new symmetric KMS key (needs kms:CreateKey; otherwise create one yourself and use
    /// `vault migrate --to aws-kms:<key>`).
    public func createKey() async throws -> String {
        let answer = try await self.call(
            "CreateKey",
            key: "(new)",
            [
                "Description": "Tradekeep key-encryption key", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
            ]
        )
        guard let metadata = answer["KeyMetadata"] as? [String: Any], let id = (metadata["Arn"] as? String) ?? (metadata["KeyId"] as? String) else {
            throw KMSError(type: "MalformedResponse", message: "CreateKey answered without a key id", key: "(new)")
        }
        return id
    }

    /// KMS keys are never deleted by Tradekeep: schedule deletion yourself once `vault status` shows no record uses one.
    public func retireKey(_ key: String) async throws {}

    /// Fail early, with a clear reason, when the key is missing or unusable.
    public func checkKey(_ key: String) async throws {
        let answer = try await self.call("DescribeKey", key: key, ["KeyId": key])
        if let metadata = answer["KeyMetadata"] as? [String: Any], metadata["Enabled"] as? Bool == false {
            throw KMSError(type: "DisabledException", message: "the key is disabled", key: key)
        }
    }

    func call(_ action: String, key: String, _ body: [String: Any]) async throws -> [String: Any] {
        let payload = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        let host = self.endpoint.host.map { host in self.endpoint.port.map { "\(host):\($0)" } ?? host } ?? ""
        let signed = SigV4.sign(
            method: "POST",
            path: self.endpoint.path.isEmpty ? "/" : self.endpoint.path,
            headers: [("Host", host), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "TrentService.\(action)")],
            body: payload,
            credentials: self.credentials,
            region: self.region,
            service: "kms",
            date: Date()
        )
        var request = HTTPClientRequest(url: self.endpoint.absoluteString)
        request.method = .POST
        for (name, value) in signed.headers where name.lowercased() != "host" { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await self.client.execute(request, timeout: self.timeout)
            data = try await response.body.collect(upTo: 1024 * 1024)
        } catch {
            throw KMSError(type: "unreachable", message: String(describing: error), key: key)
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: data))) as? [String: Any] ?? [:]
        guard response.status == .ok else {
            let type = (object["__type"] as? String).map { $0.split(separator: "#").last.map(String.init) ?? $0 } ?? "HTTP\(response.status.code)"
            throw KMSError(type: type, message: (object["message"] as? String) ?? (object["Message"] as? String) ?? "", key: key)
        }
        return object
    }
}
