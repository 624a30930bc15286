// PostgreSQL over TLS with CA verification (sslmode=verify-full&sslrootcert=…), against a TLS-only server.

import Foundation
import Logging
import Storage
import Testing

@Suite struct PostgresTLSTests {
    static let logger = Logger(label: "postgres-tls-test")

    static func tlsURL() throws -> String {
        try #require(TestEnvironment.postgresTLSURL, "TRADEKEEP_TEST_PG_TLS_URL is not set (run scripts/dev-postgres)")
    }

    static func connect(_ url: String) async throws {
        let database = try TradekeepDatabase(location: DatabaseLocation(url: url))
        do {
            try await database.migrate(logger: logger)
            try await database.checkReady(logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
    }

    @Test(
        "verify-full with the server's CA connects, migrates and answers",
        .enabled(if: TestEnvironment.needs(TestEnvironment.postgresTLSURL != nil), "needs TRADEKEEP_TEST_PG_TLS_URL (scripts/dev-postgres)")
    )
    func verifiedConnection() async throws {
        let schema = "tls_\(UUID().uuidString.prefix(8).lowercased())"
        try await Self.connect(try Self.tlsURL() + "&schema=\(schema)")
    }

    @Test(
        "verify-full with another CA is refused: the server certificate is not trusted",
        .enabled(if: TestEnvironment.needs(TestEnvironment.postgresTLSURL != nil), "needs TRADEKEEP_TEST_PG_TLS_URL (scripts/dev-postgres)")
    )
    func wrongCertificateAuthority() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let other = try TestCertificate.generate(in: directory)
        let url = try Self.tlsURL().replacingOccurrences(
            of: #"sslrootcert=[^&]+"#,
            with: "sslrootcert=\(other.caCertificate.path)",
            options: .regularExpression
        )
        await #expect {
            try await Self.connect(url)
        } throws: { error in
            String(reflecting: error).contains("CERTIFICATE_VERIFY_FAILED")
        }
    }

    @Test(
        "Without TLS the server refuses the connection (the suite's server is TLS-only)",
        .enabled(if: TestEnvironment.needs(TestEnvironment.postgresTLSURL != nil), "needs TRADEKEEP_TEST_PG_TLS_URL (scripts/dev-postgres)")
    )
    func plaintextRefused() async throws {
        let url = try Self.tlsURL().replacingOccurrences(of: #"\?.*$"#, with: "?sslmode=disable", options: .regularExpression)
        await #expect {
            try await Self.connect(url)
        } throws: { error in
            String(reflecting: error).contains("no encryption")
        }
    }
}
