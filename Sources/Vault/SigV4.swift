// AWS Signature Version 4 on swift-crypto (no AWS SDK here): canonical request, string to sign, signing key.

import Crypto
import Foundation

public struct AWSCredentials: Sendable, CustomStringConvertible {
    public let accessKeyID: String
    let secretAccessKey: SecretBytes
    public let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = SecretBytes(copying: Array(secretAccessKey.utf8))
        self.sessionToken = sessionToken
    }

    /// From AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    public static func fromEnvironment(_ environment: [String: String]) -> AWSCredentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else { return nil }
        return AWSCredentials(
            accessKeyID: id,
            secretAccessKey: secret,
            sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    public var description: String { "AWSCredentials(\(self.accessKeyID), secret redacted)" }
}

public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"

    public struct Signed: Sendable, Equatable {
        public let canonicalRequest: String
        public let stringToSign: String
        public let signature: String
        public let authorization: String
        /// Every header to send: the ones given, X-Amz-Date, X-Amz-Security-Token if any, Authorization.
        public let headers: [(String, String)]

        public static func == (lhs: Signed, rhs: Signed) -> Bool {
            lhs.canonicalRequest == rhs.canonicalRequest && lhs.signature == rhs.signature && lhs.authorization == rhs.authorization
        }
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    public static func timestamp(_ date: Date) -> (amzDate: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d%02d%02d", c.year!, c.month!, c.day!)
        return (day + String(format: "T%02d%02d%02dZ", c.hour!, c.minute!, c.second!), day)
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (upper-case), as SigV4 requires.
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "a"..."z").union(CharacterSet(charactersIn: "A"..."Z")).union(CharacterSet(charactersIn: "0"..."9"))
        allowed.insert(charactersIn: "-_.~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    public static func signingKey(secret: SecretBytes, day: String, region: String, service: String) -> SymmetricKey {
        let start = secret.withUnsafeBytes { SymmetricKey(data: Array("AWS4".utf8) + Array($0)) }
        var key = start
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    /// Sign a request. `headers` must include `host`; header names are matched case-insensitively.
    public static func sign(
        method: String,
        path: String,
        query: [(String, String)] = [],
        headers: [(String, String)],
        body: [UInt8],
        credentials: AWSCredentials,
        region: String,
        service: String,
        date: Date
    ) -> Signed {
        let (amzDate, day) = self.timestamp(date)
        var all = headers + [("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken { all.append(("X-Amz-Security-Token", token)) }
        // Canonical headers: lower-case names, values trimmed with inner runs of spaces folded, sorted by name.
        var canonical: [String: String] = [:]
        for (name, value) in all {
            let folded = value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            let key = name.lowercased()
            canonical[key] = canonical[key].map { $0 + "," + folded } ?? folded
        }
        let names = canonical.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalPath =
            path.isEmpty
            ? "/"
            : path.split(separator: "/", omittingEmptySubsequences: false)
                .map { self.encode(String($0)) }.joined(separator: "/")
        let canonicalQuery = query.map { (self.encode($0.0), self.encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = [
            method.uppercased(), canonicalPath, canonicalQuery,
            names.map { "\($0):\(canonical[$0]!)" }.joined(separator: "\n") + "\n",
            signedHeaders, self.hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [self.algorithm, amzDate, scope, self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        let key = self.signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let signature = self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "\(self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            authorization: authorization,
            headers: all + [("Authorization", authorization)]
        )
    }
}
