// The Have I Been Pwned range API (k-anonymity): only the first 5 hex digits of the SHA-1 leave the server.

import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

public struct PwnedPasswords: Sendable {
    public enum Verdict: Equatable, Sendable {
        case breached(count: Int)
        case notFound
        /// The service did not answer in time or answered nonsense: registration goes on (fail open).
        case unavailable
    }

    public let baseURL: String
    public let timeout: TimeAmount
    let client: HTTPClient

    public init(baseURL: String = "https://api.pwnedpasswords.com", timeout: TimeAmount = .seconds(3), client: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
        self.client = client
    }

    /// Upper-case hex SHA-1 split into the 5-character prefix that is sent and the suffix that is not.
    public static func split(_ password: String) -> (prefix: String, suffix: String) {
        let hex = Insecure.SHA1.hash(data: Array(password.utf8)).map { String(format: "%02X", $0) }.joined()
        return (String(hex.prefix(5)), String(hex.dropFirst(5)))
    }

    public func check(_ password: String, logger: Logger) async -> Verdict {
        let (prefix, suffix) = Self.split(password)
        var request = HTTPClientRequest(url: "\(self.baseURL)/range/\(prefix)")
        // Padding makes every answer a similar size, so the response length does not hint at the prefix.
        request.headers.add(name: "Add-Padding", value: "true")
        request.headers.add(name: "User-Agent", value: "tradekeep")
        do {
            let response = try await self.client.execute(request, timeout: self.timeout)
            guard response.status == .ok else {
                logger.warning("breached-password check unavailable; allowing", metadata: ["http.status": .stringConvertible(response.status.code)])
                return .unavailable
            }
            let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
            return Self.verdict(in: String(buffer: body), suffix: suffix)
        } catch {
            logger.warning("breached-password check unavailable; allowing", metadata: ["error.type": .string(String(describing: type(of: error)))])
            return .unavailable
        }
    }

    /// Find `suffix` in a range answer (`SUFFIX:COUNT` lines). Padding rows have count 0 and never count.
    static func verdict(in body: String, suffix: String) -> Verdict {
        for line in body.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].uppercased() == suffix else { continue }
            let count = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            return count > 0 ? .breached(count: count) : .notFound
        }
        return .notFound
    }
}
