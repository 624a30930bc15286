// The tradekeep command line: serve, init, migrate, version.

import ArgumentParser
import AuditLog
import Foundation
import Guard
import Hummingbird
import Logging
import Server
import Storage
import Vault

#if canImport(Glibc)
import Glibc
#endif

@main
struct Tradekeep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tradekeep",
        abstract: "A self-hostable, non-custodial trading-bot server.",
        subcommands: [
            Serve.self, Initialize.self, Migrate.self, Admin.self, VaultCommand.self, Backup.self, Restore.self, AuditCommand.self,
            WitnessCommand.self, AnomalyCommand.self,
            Version.self,
        ]
    )
}

/// Options every command that reads the data folder takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data folder (TRADEKEEP_DATA_DIR, default ./tradekeep-data).")
    var dataDirectory: String?

    @Option(help: "development or production (TRADEKEEP_ENV).")
    var env: String?

    @Option(help: "Config file of NAME=value lines (TRADEKEEP_CONFIG).")
    var config: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags[Setting.dataDirectory.name] = self.dataDirectory
        flags[Setting.environment.name] = self.env
        flags[Setting.configFile.name] = self.config
        return flags
    }
}

/// Resolve the configuration sources, or exit with the configuration error.
func loadSources(_ flags: [String: String]) throws -> ConfigurationSources {
    // Everything this process creates is private to its user, whatever the caller's umask.
    umask(0o077)
    do {
        return try ConfigurationSources.load(flags: flags, environment: ProcessInfo.processInfo.environment)
    } catch let error as ConfigurationError {
        throw ConfigurationFailure(message: error.description)
    }
}

/// A start-up failure: printed as is, exit status 78 (EX_CONFIG).
struct ConfigurationFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}

extension ParsableCommand {
    /// Run `body`, turning configuration problems into a message on standard error and exit status 78.
    func exitingOnConfigurationError<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ConfigurationFailure {
            FileHandle.standardError.write(Data("tradekeep: \(error.message)\n".utf8))
            throw ExitCode(78)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("tradekeep: \(error.description)\n".utf8))
            throw ExitCode(78)
        } catch let error as StartupRefused {
            FileHandle.standardError.write(Data("tradekeep: \(error.description)\n".utf8))
            throw ExitCode(78)
        } catch let error as Backups.Failure {
            FileHandle.standardError.write(Data("tradekeep: \(error.description)\n".utf8))
            throw ExitCode(65)
        } catch let error as BackupFormat.Failure {
            FileHandle.standardError.write(Data("tradekeep: refusing the backup: \(error.description)\n".utf8))
            throw ExitCode(65)
        } catch let error as FernetError {
            FileHandle.standardError.write(Data("tradekeep: the backup key is not valid: \(error.description)\n".utf8))
            throw ExitCode(65)
        } catch let error as APIError {
            FileHandle.standardError.write(Data("tradekeep: \(error.message)\n".utf8))
            throw ExitCode(65)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (TRADEKEEP_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (TRADEKEEP_PORT, default 8080; 0 picks a free port).")
    var port: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS and HTTP/2 (TRADEKEEP_TLS_CERT).")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert (TRADEKEEP_TLS_KEY).")
    var tlsKey: String?

    @Flag(name: .customLong("behind-tls-proxy"), help: "A TLS-terminating proxy forwards to this server (TRADEKEEP_BEHIND_TLS_PROXY).")
    var behindTLSProxy = false

    @Option(name: .customLong("public-url"), help: "The address users reach the server at (TRADEKEEP_PUBLIC_URL).")
    var publicURL: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (TRADEKEEP_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text or json (TRADEKEEP_LOG_FORMAT).")
    var logFormat: String?

    func run() async throws {
        var flags = self.common.flags
        flags[Setting.host.name] = self.host
        flags[Setting.port.name] = self.port
        flags[Setting.tlsCertificate.name] = self.tlsCertificate
        flags[Setting.tlsKey.name] = self.tlsKey
        flags[Setting.behindTLSProxy.name] = self.behindTLSProxy ? "true" : nil
        flags[Setting.publicURL.name] = self.publicURL
        flags[Setting.logLevel.name] = self.logLevel
        flags[Setting.logFormat.name] = self.logFormat

        let (prepared, app) = try await self.exitingOnConfigurationError {
            let prepared = try StartupPolicy.prepare(try loadSources(flags))
            let configuration = prepared.configuration
            bootstrapLogging(level: configuration.logLevel, format: configuration.logFormat)
            let logger = Logger(label: "tradekeep")
            return (prepared, try await buildApplication(prepared, logger: logger))
        }
        let logger = Logger(label: "tradekeep")
        let configuration = prepared.configuration
        for file in prepared.generatedFiles {
            logger.notice("generated secret", metadata: ["file": .string(configuration.dataDirectory.appendingPathComponent(file).path)])
        }
        for warning in prepared.warnings {
            logger.warning("configuration", metadata: ["finding": .string(warning)])
        }
        logger.info(
            "starting",
            metadata: [
                "version": .string(TradekeepVersion.current),
                "env": .string(configuration.environment.rawValue),
                "data_dir": .string(configuration.dataDirectory.path),
                "database": .string(configuration.database.description),
            ]
        )
        try await app.runService()
        logger.info("stopped")
    }
}

struct Initialize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the data folder and generate any missing secret in it (never overwrites)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await self.exitingOnConfigurationError {
            let sources = try loadSources(self.common.flags)
            let configuration = try ServerConfiguration(sources)
            let loaded = try initializeDataFolder(configuration, sources: sources)
            for file in loaded.generatedFiles {
                print("generated \(configuration.dataDirectory.appendingPathComponent(file).path)")
            }
            for problem in loaded.problems {
                FileHandle.standardError.write(Data("tradekeep: \(problem)\n".utf8))
            }
            if loaded.generatedFiles.isEmpty, loaded.problems.isEmpty {
                print("every secret is already present in \(configuration.dataDirectory.path)")
            }
            if !loaded.problems.isEmpty { throw ExitCode(78) }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try await self.exitingOnConfigurationError {
            try ServerConfiguration(try loadSources(self.common.flags))
        }
        bootstrapLogging(level: configuration.logLevel, format: configuration.logFormat)
        let logger = Logger(label: "tradekeep")
        let database = try TradekeepDatabase(location: configuration.database)
        do {
            try await database.migrate(logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
        print("migrations applied to \(configuration.database)")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("tradekeep \(TradekeepVersion.current)")
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Administrator accounts.", subcommands: [CreateAdmin.self])
}

struct CreateAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an administrator. The password is read from standard input, or prompted for on a terminal."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The administrator's email address.")
    var email: String

    func run() async throws {
        let password = try readPassword()
        let created = try await self.exitingOnConfigurationError {
            let sources = try loadSources(self.common.flags)
            bootstrapLogging(level: .warning, format: .text)
            return try await AdminAccounts.create(email: self.email, password: password, sources: sources, logger: Logger(label: "tradekeep"))
        }
        print(
            """
            Administrator \(self.email) created (id \(created.userID.uuidString.lowercased())).

            Add this to your authenticator app now; it is shown only once:
              \(created.otpauthURI)

            Then confirm it with a current code, within 24 hours:
              curl -X POST <server>/api/v1/auth/totp/confirm -H 'Content-Type: application/json' \\
                -d '{"enrollment_token": "\(created.enrollmentToken)", "code": "<6 digits>"}'
            (Signing in before confirming also starts the enrolment again.)
            """
        )
    }

    /// From standard input when it is not a terminal (scripts); otherwise a no-echo prompt, twice.
    func readPassword() throws -> String {
        if isatty(STDIN_FILENO) == 0 {
            guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("expected the password on standard input")
            }
            return line
        }
        let first = try promptHidden("Password: ")
        let second = try promptHidden("Repeat password: ")
        guard first == second else { throw ValidationError("the passwords differ") }
        return first
    }

    func promptHidden(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = Swift.readLine(strippingNewline: true) else { throw ValidationError("no password given") }
        return line
    }
}

struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Key-encryption keys: status, rotation, pruning. Safe while servers run.",
        subcommands: [VaultStatus.self, VaultRotate.self, VaultMigrate.self, VaultPrune.self]
    )
}

/// Open the vault for a command, with configuration errors reported as for `serve`.
func openVault(_ command: some ParsableCommand, _ common: CommonOptions, migrateTo: String? = nil) async throws -> VaultAdministration {
    try await command.exitingOnConfigurationError {
        let sources = try loadSources(common.flags)
        let configuration = try ServerConfiguration(sources)
        bootstrapLogging(level: .warning, format: configuration.logFormat)
        let target: KEKConfiguration?
        do {
            target = try migrateTo.map(KEKConfiguration.init)
        } catch let error as KEKConfiguration.ParseError {
            throw ConfigurationError("--to", error.message)
        }
        return try await VaultAdministration.open(sources, logger: Logger(label: "tradekeep"), migrateTo: target)
    }
}

/// How `vault rotate` and `vault migrate` re-wrap records.
struct RewrapOptions: ParsableArguments {
    @Option(help: "Records re-wrapped per transaction.")
    var batchSize = 200

    @Option(help: "Seconds to wait at the end for running servers to switch to the new version (0 when none runs).")
    var settle = 6

    var batch: Int { max(1, self.batchSize) }
    var settleTime: Duration { .seconds(max(0, self.settle)) }
}

/// Print progress lines while re-wrapping, then the outcome.
func reportRewrap(_ work: (@escaping @Sendable (VaultAdministration.Progress) -> Void) async throws -> VaultAdministration.Outcome) async throws {
    let outcome = try await work { progress in
        FileHandle.standardError.write(Data((progress.line + "\n").utf8))
    }
    switch outcome {
    case .rotated(let version, let records): print("done: KEK version \(version) is current; \(records) records re-wrapped")
    case .resumed(let version, let records): print("resumed: KEK version \(version) is current; \(records) records re-wrapped")
    }
}

struct VaultStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Sealed records per KEK version.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let vault = try await openVault(self, self.common)
        let status: VaultAdministration.Status
        do {
            status = try await vault.status()
        } catch {
            await vault.close()
            throw error
        }
        print(status.lines.joined(separator: "\n"))
        await vault.close()
    }
}

struct VaultRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Make a new KEK version current and re-wrap every record; resumes an unfinished rotation."
    )
    @OptionGroup var common: CommonOptions

    @OptionGroup var rewrap: RewrapOptions

    func run() async throws {
        let vault = try await openVault(self, self.common)
        do {
            try await reportRewrap { progress in
                try await vault.rotate(batchSize: self.rewrap.batch, settle: self.rewrap.settleTime, progress: progress)
            }
        } catch {
            await vault.close()
            throw error
        }
        await vault.close()
    }
}

struct VaultMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move every record to another KEK provider, e.g. --to 'aws-kms:alias/tradekeep?region=eu-west-1'."
    )
    @OptionGroup var common: CommonOptions

    @Option(help: "The target, written as a TRADEKEEP_KEK value.")
    var to: String

    @OptionGroup var rewrap: RewrapOptions

    func run() async throws {
        let vault = try await openVault(self, self.common, migrateTo: self.to)
        do {
            let target = try KEKConfiguration(self.to)
            try await reportRewrap { progress in
                try await vault.migrate(to: target, batchSize: self.rewrap.batch, settle: self.rewrap.settleTime, progress: progress)
            }
        } catch {
            await vault.close()
            throw error
        }
        await vault.close()
    }
}

struct VaultPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove KEK versions no record uses any more.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let vault = try await openVault(self, self.common)
        let removed = try await vault.prune()
        print(removed.isEmpty ? "nothing to prune" : "pruned KEK versions \(removed.map(String.init).joined(separator: ", "))")
        await vault.close()
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an encrypted backup (database snapshot and data-folder secrets) while the server runs."
    )
    @OptionGroup var common: CommonOptions

    @Option(help: "The backup file to create (never overwritten).")
    var out: String

    func run() async throws {
        let summary = try await self.exitingOnConfigurationError {
            let sources = try loadSources(self.common.flags)
            bootstrapLogging(level: .warning, format: .text)
            return try await Backups.create(sources: sources, out: URL(fileURLWithPath: self.out), logger: Logger(label: "tradekeep"))
        }
        print(
            "backup \(summary.backupID) written to \(self.out): \(summary.database) database and \(summary.files.count - 1) data-folder files, \(summary.bytes) bytes before encryption"
        )
        print("It is encrypted with backup.key: keep a copy of that key off this machine, or the backup cannot be restored.")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restore a backup into an empty data folder (and empty database).")
    @OptionGroup var common: CommonOptions

    @Argument(help: "The backup file.")
    var file: String

    @Option(name: .customLong("key-file"), help: "The backup.key file (or set TRADEKEEP_BACKUP_KEY).")
    var keyFile: String?

    func run() async throws {
        let summary = try await self.exitingOnConfigurationError {
            let sources = try loadSources(self.common.flags)
            bootstrapLogging(level: .warning, format: .text)
            return try await Backups.restore(
                file: URL(fileURLWithPath: self.file),
                sources: sources,
                keyFile: self.keyFile.map { URL(fileURLWithPath: $0) },
                logger: Logger(label: "tradekeep")
            )
        }
        print("restored backup \(summary.backupID) (\(summary.database)): \(summary.files.joined(separator: ", "))")
    }
}

struct AnomalyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "anomaly",
        abstract: "The anomaly scanner.",
        subcommands: [AnomalyScanNow.self]
    )
}

struct AnomalyScanNow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan-now",
        abstract: "Run the anomaly rules once over what the audit log holds since the last scan; alerts are stored and mailed."
    )
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let outcome = try await self.exitingOnConfigurationError {
            bootstrapLogging(level: .warning, format: .text)
            return try await AnomalyAdministration.scanNow(try loadSources(self.common.flags), logger: Logger(label: "tradekeep"))
        }
        guard let summary = outcome.summary else {
            print("another scan is running (a server's scanner); nothing done")
            return
        }
        print(
            "scanned \(summary.entries) entries: \(summary.anomalies.count) anomalies, \(summary.alerts) new alerts, \(outcome.deliveries) deliveries attempted"
        )
        for anomaly in summary.anomalies { print("- \(anomaly.kind.rawValue) \(anomaly.subject): \(anomaly.message)") }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and export the audit log.",
        subcommands: [AuditVerify.self, AuditVerifyDatabase.self, AuditExportCommand.self]
    )
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an export offline: commitments, signatures, chains, inclusion proofs, the checkpoint, cosignatures."
    )

    @Argument(help: "The JSON export (GET /api/v1/audit/export).")
    var export: String

    @Option(name: .customLong("checkpoint"), help: "A checkpoint saved earlier: the export's must be consistent with it.")
    var older: String?

    @Option(name: .customLong("witness"), help: "A witness's cosignature/v1 vkey: the checkpoint must carry its cosignature (repeatable).")
    var witnesses: [String] = []

    @Option(name: .customLong("log-url"), help: "The server's URL, to compute the consistency proof from its public tiles.")
    var logURL: String?

    func run() async throws {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: self.export))
            let older = try self.older.map { try String(contentsOf: URL(fileURLWithPath: $0), encoding: .utf8) }
            let url = try self.logURL.map { text in
                guard let url = URL(string: text), url.host != nil else { throw ValidationError("--log-url must be an absolute URL") }
                return url
            }
            let result = try await OfflineAuditVerification.verify(export: data, older: older, witnesses: self.witnesses, logURL: url)
            print(
                "ok: \(result.entries.count) entries verified against the checkpoint of \(result.checkpoint.size) entries of \(result.checkpoint.origin)"
            )
            for witness in result.witnessesVerified { print("ok: cosigned by \(witness)") }
            if result.consistentWithOlder { print("ok: consistent with the older checkpoint") }
        } catch let failure as AuditExportVerifier.Failure {
            FileHandle.standardError.write(Data("tradekeep: audit verify FAILED: \(failure.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct AuditVerifyDatabase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-db",
        abstract: "Recompute the whole log from the database; name the first entry, node or checkpoint that does not match."
    )
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let audit = try await self.exitingOnConfigurationError {
            bootstrapLogging(level: .warning, format: .text)
            return try await AuditAdministration.open(try loadSources(self.common.flags), logger: Logger(label: "tradekeep"))
        }
        do {
            let verified = try await audit.verifyDatabase()
            await audit.close()
            print("ok: \(verified.entries) entries and \(verified.checkpoints) checkpoints verified; \(verified.pending) entries pending")
        } catch let mismatch as AuditAdministration.Mismatch {
            await audit.close()
            FileHandle.standardError.write(Data("tradekeep: audit verify-db FAILED: \(mismatch.description)\n".utf8))
            throw ExitCode(1)
        } catch {
            await audit.close()
            throw error
        }
    }
}

struct AuditExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a user's JSON export to standard output (the export is itself audited, as operator:cli)."
    )
    @OptionGroup var common: CommonOptions

    @Option(help: "The user's email address.")
    var user: String

    func run() async throws {
        let audit = try await self.exitingOnConfigurationError {
            bootstrapLogging(level: .warning, format: .text)
            return try await AuditAdministration.open(try loadSources(self.common.flags), logger: Logger(label: "tradekeep"))
        }
        do {
            let data = try await audit.export(email: self.user)
            await audit.close()
            FileHandle.standardOutput.write(data)
        } catch let mismatch as AuditAdministration.Mismatch {
            await audit.close()
            FileHandle.standardError.write(Data("tradekeep: audit export: \(mismatch.description)\n".utf8))
            throw ExitCode(1)
        } catch {
            await audit.close()
            throw error
        }
    }
}

struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "A C2SP tlog-witness for Tradekeep audit logs.",
        subcommands: [WitnessServe.self]
    )
}

struct WitnessServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Cosign a Tradekeep audit log's checkpoints (C2SP tlog-witness); prints the witness's vkey at start."
    )

    @Option(name: .customLong("data-dir"), help: "Where the witness keeps its key and state.")
    var dataDirectory: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 7380

    @Option(help: "The witness's key name (a schema-less URL).")
    var name = "tradekeep-witness"

    @Option(name: .customLong("log"), help: "ORIGIN=VKEY of a log to witness (repeatable): the log's /.well-known/tradekeep/audit-key.")
    var logs: [String] = []

    func run() async throws {
        bootstrapLogging(level: .info, format: .text)
        let prepared: (witness: Witness, state: WitnessState)
        do {
            prepared = try WitnessServer.prepare(dataDirectory: URL(fileURLWithPath: self.dataDirectory), name: self.name, logs: self.logs)
        } catch let failure as WitnessServer.Failure {
            FileHandle.standardError.write(Data("tradekeep: witness: \(failure.description)\n".utf8))
            throw ExitCode(78)
        }
        print("witness vkey: \(prepared.witness.verifierKey.text)")
        print("give the server: TRADEKEEP_AUDIT_WITNESSES=\"http://\(self.host):\(self.port) \(prepared.witness.verifierKey.text)\"")
        let app = WitnessServer.application(
            witness: prepared.witness,
            state: prepared.state,
            host: self.host,
            port: self.port,
            logger: Logger(label: "tradekeep-witness")
        )
        try await app.runService()
    }
}
