// Builds the real application for a test: a temporary data folder, generated secrets, and in-memory SQLite
// (or a fresh PostgreSQL schema when TRADEKEEP_TEST_DATABASE_URL is set).

import Bots
import FluentKit
import Foundation
import Guard
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import SQLKit
import Storage
import Vault
import Venues

@testable import Server

struct TestApplication {
    let directory: TemporaryDirectory
    var prepared: PreparedServer
    let logs = LogCapture()
    let clock = TestClock()
    /// The PostgreSQL schema this application lives in, dropped afterwards.
    let postgresSchema: String?

    /// `settings` are TRADEKEEP_* values given as flags (highest precedence).
    init(_ settings: [String: String] = [:], environment: [String: String] = [:]) throws {
        self.directory = try TemporaryDirectory()
        var flags = [Setting.dataDirectory.name: self.directory.appending("data").path]
        var schema: String?
        if let base = TestEnvironment.postgresURL {
            let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))"
            flags[Setting.databaseURL.name] = base + (base.contains("?") ? "&" : "?") + "schema=\(name)"
            schema = name
        } else {
            flags[Setting.databaseURL.name] = "sqlite::memory:"
        }
        if settings[Setting.databaseURL.name] != nil { schema = nil }
        flags.merge(settings) { _, new in new }
        self.postgresSchema = schema
        self.prepared = try StartupPolicy.prepare(ConfigurationSources.load(flags: flags, environment: environment))
        // bcrypt at cost 12 takes ~250 ms a hash; the suite uses cost 4. `PasswordHashingTests` checks 12 is the default.
        self.prepared.configuration.bcryptCost = 4
    }

    /// Failures a test injects into the real application: audit writes that fail, a slow or failing venue.
    struct Faults: Sendable {
        var auditWriter: any AuditWriter = PendingAuditWriter()
        var paperVenue: @Sendable (any Venue) -> any Venue = { $0 }
    }

    func build(faults: Faults = Faults(), extraRoutes: (Router<AppRequestContext>) -> Void = { _ in }) async throws -> ApplicationParts {
        let clock = self.clock
        return try await buildApplicationParts(
            self.prepared,
            logger: self.logs.logger(),
            clock: { clock.now },
            auditWriter: faults.auditWriter,
            venueDecorator: faults.paperVenue,
            extraRoutes: extraRoutes
        )
    }

    /// Run `body` against the application in memory, then clean up its data folder and schema.
    func test<Value>(
        _ setup: TestingSetup = .router,
        extraRoutes: (Router<AppRequestContext>) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        try await self.run(setup, extraRoutes: extraRoutes) { client, _ in try await body(client) }
    }

    /// Like `test`, with the application's parts (database, auth service) at hand.
    func run<Value>(
        _ setup: TestingSetup = .router,
        faults: Faults = Faults(),
        extraRoutes: (Router<AppRequestContext>) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol, Inside) async throws -> Value
    ) async throws -> Value {
        defer { self.directory.remove() }
        let parts = try await self.build(faults: faults, extraRoutes: extraRoutes)
        let inside = Inside(
            database: parts.database,
            auth: parts.auth,
            bots: parts.bots,
            vault: parts.vault,
            paper: parts.paper,
            auditLog: parts.auditLog,
            alerts: parts.alerts,
            scanner: parts.scanner,
            credentials: parts.credentials,
            dataDirectory: self.prepared.configuration.dataDirectory,
            logger: self.logs.logger()
        )
        // A test's failure is carried out of the application as a value, so the application always stops the way
        // a server does on SIGTERM (graceful shutdown, services in reverse order). Thrown out of `application.test`,
        // it would cancel every service at once — the database pool could close under a query still running and
        // leave a PostgreSQL connection that traps the whole test process.
        let outcome: Outcome<Value>
        do {
            outcome = try await parts.application.test(setup) { client in
                do { return Outcome.value(try await body(client, inside)) } catch { return Outcome.failure(error) }
            }
        } catch {
            await self.dropSchema()
            throw error
        }
        await self.dropSchema()
        switch outcome {
        case .value(let value): return value
        case .failure(let error): throw error
        }
    }

    private enum Outcome<Wrapped> {
        case value(Wrapped)
        case failure(any Error)
    }

    func dropSchema() async {
        guard let schema = self.postgresSchema else { return }
        await Self.dropSchema(schema)
    }

    /// Drop a test's PostgreSQL schema (and everything in it).
    static func dropSchema(_ schema: String) async {
        guard let base = TestEnvironment.postgresURL, let database = try? TradekeepDatabase(location: DatabaseLocation(url: base)) else { return }
        let logger = Logger(label: "test-cleanup")
        if let sql = try? database.database(logger: logger) as? any SQLDatabase {
            try? await sql.raw("DROP SCHEMA IF EXISTS \(ident: schema) CASCADE").run()
        }
        await database.shutdown()
    }
}

/// What tests may inspect inside a running application.
struct Inside: Sendable {
    let database: TradekeepDatabase
    let auth: AuthService
    let bots: BotService
    let vault: Envelope
    /// The paper venue as the engine sees it (with any injected fault).
    let paper: any Venue
    let auditLog: AuditLogPublisher
    let alerts: AlertService
    let scanner: AnomalyScanner
    let credentials: CredentialService
    let dataDirectory: URL
    let logger: Logger

    /// What the paper venue holds open for a user: the truth a kill must leave empty.
    func paperOpenOrders(_ userID: String) async throws -> [VenueOrder] {
        try await self.paper.openOrders(symbol: nil, credentials: VenueCredentials(apiKey: userID, secret: SecretBytes(copying: [UInt8]())))
    }

    var secrets: SecretStore { SecretStore(database: self.database, envelope: self.vault, logger: self.logger) }
    var credentialStore: CredentialStore { CredentialStore(database: self.database, secrets: self.secrets, logger: self.logger) }
    var botStore: BotStore { BotStore(database: self.database, logger: self.logger) }
}

/// The application's clock in tests: starts at the real time, moves only when told.
final class TestClock: Sendable {
    private let current = NIOLockedValueBox(Date())

    var now: Date { self.current.withLockedValue { $0 } }

    func advance(by seconds: TimeInterval) {
        self.current.withLockedValue { $0 = $0.addingTimeInterval(seconds) }
    }
}

extension TestResponse {
    var bodyString: String { String(buffer: self.body) }

    func decoded<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: self.body))
    }
}
