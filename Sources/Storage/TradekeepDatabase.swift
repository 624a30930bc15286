// Opens the configured database (SQLite or PostgreSQL), applies migrations and answers readiness checks.

import FluentKit
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SQLKit
import Vault

public enum StorageError: Error, CustomStringConvertible {
    case keyringMismatch(databaseKeyring: String, dataFolderKeyring: String)
    case tls(String)
    case closed

    public var description: String {
        switch self {
        case .keyringMismatch(let stored, let local):
            "this database was initialised with keyring \(stored), but the data folder holds keyring \(local); "
                + "every stored secret would be unreadable. Point --data-dir at the data folder that belongs to this database."
        case .tls(let why): "TRADEKEEP_DATABASE_URL: \(why)"
        case .closed: "the database connection pool is shut down"
        }
    }
}

/// The application's database: a Fluent `Databases` registry with one configured database.
///
/// `Databases` is a swift-service-lifecycle `Service`: add `databases` to the service group and it closes its
/// connection pools on graceful shutdown.
public struct TradekeepDatabase: Sendable {
    public let location: DatabaseLocation
    public let databases: Databases
    /// Where every change's audit entries go, inside that change's transaction.
    public let auditWriter: any AuditWriter
    /// Signalled after every commit that recorded audit entries.
    public let auditCommits = AuditCommitSignal()
    private let eventLoopGroup: any EventLoopGroup

    public init(
        location: DatabaseLocation,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        threadPool: NIOThreadPool = Self.blockingIOPool,
        auditWriter: any AuditWriter = PendingAuditWriter()
    ) throws {
        self.location = location
        self.auditWriter = auditWriter
        // SQLite allows one writer. With a connection per event loop, a background write (the paper venue, the bot
        // engine) waiting on another connection's transaction holds a thread-pool thread in SQLite's busy loop, and
        // enough of them starve the transaction they wait for (in-memory databases fail with SQLITE_LOCKED instead).
        // One event loop, so one connection per process, serialises every statement. PostgreSQL keeps its pool.
        let isSQLite = if case .postgres = location { false } else { true }
        let group: any EventLoopGroup = isSQLite ? eventLoopGroup.next() : eventLoopGroup
        self.eventLoopGroup = group
        self.databases = Databases(threadPool: threadPool, on: group)
        switch location {
        case .sqliteMemory:
            self.databases.use(.sqlite(.memory, sqlLogLevel: .trace), as: .sqlite)
        case .sqliteFile(let path):
            // Create the file 0600 before SQLite does, so it (and its -wal/-shm files, which SQLite creates
            // with the database file's mode) never exist with looser permissions.
            try SecureFile.touch(URL(fileURLWithPath: path))
            self.databases.use(.sqlite(.file(path), sqlLogLevel: .trace), as: .sqlite)
        case .postgres(let pg):
            self.databases.use(.postgres(configuration: try Self.postgresConfiguration(pg), sqlLogLevel: .trace), as: .psql)
        }
    }

    /// SQLite's blocking calls run here, on threads of their own: password hashing and file work on the shared pool
    /// can never leave the database without a thread (a login flood once froze every bot this way).
    public static let blockingIOPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// A database handle for one unit of work.
    public func database(logger: Logger) throws -> any Database {
        guard let database = self.databases.database(logger: logger, on: self.eventLoopGroup.any()) else {
            throw StorageError.closed
        }
        return database
    }

    /// The same handle for SQL: every driver Tradekeep configures (SQLite, PostgreSQL) speaks SQLKit.
    public func sql(logger: Logger) throws -> any SQLDatabase {
        try self.database(logger: logger) as! any SQLDatabase
    }

    /// Apply every pending migration. On PostgreSQL an advisory lock serialises instances starting together.
    public func migrate(logger: Logger) async throws {
        let database = try self.database(logger: logger)
        if case .postgres(let pg) = self.location {
            try await database.withConnection { connection in
                let sql = connection as! any SQLDatabase
                try await sql.raw("SELECT pg_advisory_lock(\(literal: Self.migrationLockKey))").run()
                do {
                    // Under the lock too: CREATE SCHEMA IF NOT EXISTS is not safe against itself (two instances
                    // starting together on a new schema: one fails on pg_namespace's unique index).
                    if let schema = pg.schema { try await sql.raw("CREATE SCHEMA IF NOT EXISTS \(ident: schema)").run() }
                    try await Self.runMigrations(on: connection)
                } catch {
                    try? await sql.raw("SELECT pg_advisory_unlock(\(literal: Self.migrationLockKey))").run()
                    throw error
                }
                try await sql.raw("SELECT pg_advisory_unlock(\(literal: Self.migrationLockKey))").run()
            }
        } else {
            try await Self.runMigrations(on: database)
            if case .sqliteFile = self.location, let sql = database as? any SQLDatabase {
                // WAL lets readers run while a writer commits; the setting is stored in the file.
                try await sql.raw("PRAGMA journal_mode=WAL").run()
            }
        }
    }

    /// Record the keyring on first start; refuse a database that belongs to another keyring.
    ///
    /// Instances starting together on a new database all find no record: each writes the one fixed-id record, one
    /// write wins, the others fail on its primary key, and every instance compares its keyring with the winner's.
    public func bind(toKeyring keyringID: String, logger: Logger) async throws {
        let database = try self.database(logger: logger)
        var records = try await InstanceRecord.query(on: database).all()
        if records.isEmpty {
            do {
                try await InstanceRecord(keyringID: keyringID, createdAt: Date()).create(on: database)
                return
            } catch {
                // Lost the race to another instance (its record is compared below), or the write truly failed.
                records = try await InstanceRecord.query(on: database).all()
                if records.isEmpty { throw error }
            }
        }
        if let other = records.first(where: { $0.keyringID != keyringID }) {
            throw StorageError.keyringMismatch(databaseKeyring: other.keyringID, dataFolderKeyring: keyringID)
        }
    }

    /// Throws unless the database answers a query on Tradekeep's own schema.
    public func checkReady(logger: Logger) async throws {
        _ = try await InstanceRecord.query(on: try self.database(logger: logger)).count()
    }

    public func shutdown() async {
        await self.databases.shutdownAsync()
    }

    // MARK: Internals

    /// "tradekeep" in ASCII: the advisory-lock key that guards migrations.
    static let migrationLockKey: Int64 = 0x7472_6164_656B_6565

    static var migrations: [any Migration] {
        [
            CreateInstance(), CreateAccounts(), CreateKEKVersions(), CreateExchangeCredentials(), CreatePaperState(), CreateBots(),
            AddTradingLedger(), CreatePaperLedger(), CreateAuditLog(), AddAttemptsInFlight(), CreateAlerts(), AddCredentialChecks(), CreateTelegram(),
        ]
    }

    private static func runMigrations(on database: any Database) async throws {
        let list = Migrations()
        list.add(Self.migrations)
        let migrator = Migrator(databaseFactory: { _ in database }, migrations: list, on: database.eventLoop, migrationLogLevel: .debug)
        try await migrator.setupIfNeeded().get()
        try await migrator.prepareBatch().get()
    }

    static func postgresConfiguration(_ pg: PostgresLocation) throws -> SQLPostgresConfiguration {
        let tls: PostgresConnection.Configuration.TLS
        switch pg.sslMode {
        case .disable:
            tls = .disable
        case .prefer, .require:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            let context = try NIOSSLContext(configuration: config)
            tls = pg.sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyCA, .verifyFull:
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = pg.sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let root = pg.sslRootCertificate {
                guard FileManager.default.isReadableFile(atPath: root) else {
                    throw StorageError.tls("sslrootcert \(root) cannot be read")
                }
                config.trustRoots = .file(root)
            }
            tls = .require(try NIOSSLContext(configuration: config))
        }
        var configuration = SQLPostgresConfiguration(
            hostname: pg.host,
            port: pg.port,
            username: pg.username,
            password: pg.password,
            database: pg.database,
            tls: tls
        )
        if let schema = pg.schema { configuration.searchPath = [schema] }
        return configuration
    }
}
