// Runs a fake venue on loopback for adapter tests, and the requirement check for libsecp256k1.

import Foundation
import Hummingbird
import HummingbirdTesting
import InteropSupport
import Testing
import Vault
import Venues

enum LiveVenue {
    /// Serve `router` on a free loopback port for the duration of `body`.
    static func run<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in try await body("http://127.0.0.1:\(try #require(client.port))") }
    }

    /// Whether Hyperliquid tests can run; prints why not (and fails under TRADEKEEP_REQUIRE_ALL=1).
    static func secp256k1Available() -> Bool {
        if Secp256k1.isAvailable { return true }
        if Python.requireAll { Issue.record("libsecp256k1 is required (apt-get install libsecp256k1-1)") }
        print("skipped: libsecp256k1 is not installed (apt-get install libsecp256k1-1)")
        return false
    }

    static func text(_ string: String) -> SecretBytes { SecretBytes(copying: Array(string.utf8)) }
}
