// What the test run has available, and the rule that turns a skip into a failure in CI.

import Foundation
import Testing

enum TestEnvironment {
    static let variables = ProcessInfo.processInfo.environment

    /// Set by .ci/run: a test whose service is missing fails instead of being skipped.
    static let requireAll = variables["TRADEKEEP_REQUIRE_ALL"] == "1"

    /// When set, every application test runs on PostgreSQL (a fresh schema per application).
    static let postgresURL: String? = variables["TRADEKEEP_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// A `sslmode=verify-full&sslrootcert=<CA>` URL of a TLS-only PostgreSQL server (scripts/dev-postgres prints it).
    static let postgresTLSURL: String? = variables["TRADEKEEP_TEST_PG_TLS_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// A KMS-compatible endpoint (moto_server; scripts/dev-kms prints it).
    static let kmsEndpoint: String? = variables["TRADEKEEP_TEST_KMS_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }

    /// Run a test when `available`, or when TRADEKEEP_REQUIRE_ALL=1 (then the test fails on its own).
    static func needs(_ available: Bool) -> Bool { available || requireAll }

    /// The built `tradekeep` executable beside the test bundle.
    static var executable: URL? {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("tradekeep")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let fromSources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/tradekeep")
        return FileManager.default.isExecutableFile(atPath: fromSources.path) ? fromSources : nil
    }

    /// The repository root (for docs checks).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// A private folder under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("tradekeep-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    func appending(_ name: String) -> URL { self.url.appendingPathComponent(name) }

    func remove() { try? FileManager.default.removeItem(at: self.url) }
}
