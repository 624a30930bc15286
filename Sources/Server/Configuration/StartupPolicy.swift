// What must hold before the server starts. In production every finding refuses start-up, naming the setting;
// in development the server fixes what it can (creates, generates, tightens) and warns about the rest.

import Accounts
import Foundation
import Storage
import Vault

/// A reason not to start, naming the setting an operator must change.
public struct Refusal: Sendable, Equatable, CustomStringConvertible {
    public let setting: String
    public let message: String

    public var description: String { "\(self.setting): \(self.message)" }
}

public struct StartupRefused: Error, CustomStringConvertible {
    public let refusals: [Refusal]

    public var description: String {
        "refusing to start in production:\n" + self.refusals.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// The result of preparing to start: configuration, secrets, and what a person should hear about.
public struct PreparedServer: Sendable {
    public var configuration: ServerConfiguration
    public let secrets: ServerSecrets
    public let warnings: [String]
    public let generatedFiles: [String]
}

public enum StartupPolicy {
    /// Resolve configuration, prepare the data folder, load (or in development, generate) secrets, and
    /// apply the production rules of SPEC §1.
    public static func prepare(_ sources: ConfigurationSources) throws -> PreparedServer {
        let configuration = try ServerConfiguration(sources)
        let production = configuration.environment == .production
        var refusals: [Refusal] = []
        var warnings: [String] = []

        let folder = try DataFolder.prepare(configuration.dataDirectory, tighten: !production)
        for finding in folder {
            if production { refusals.append(finding) } else { warnings.append("\(finding.message) (tightened to 0600/0700)") }
        }

        let loaded = ServerSecrets.load(
            dataDirectory: configuration.dataDirectory,
            sources: sources,
            generateMissing: !production,
            tightenPermissions: !production
        )
        for problem in loaded.problems {
            if production || problem.isUnusable {
                refusals.append(Refusal(setting: problem.secret.setting.name, message: problem.description))
            } else {
                warnings.append(problem.description)
            }
        }

        let environmentFindings = self.deploymentFindings(configuration, sources: sources)
        if production { refusals += environmentFindings } else { warnings += environmentFindings.map(\.description) }

        guard refusals.isEmpty, let secrets = loaded.secrets else {
            throw StartupRefused(refusals: refusals)
        }
        return PreparedServer(configuration: configuration, secrets: secrets, warnings: warnings, generatedFiles: loaded.generatedFiles)
    }

    /// For commands that work on the data folder and database without serving (admin, vault): configuration
    /// and secrets, generated in development as on first start, refused when missing in production; the
    /// transport rules of `prepare` do not apply.
    public static func prepareForCommand(_ sources: ConfigurationSources) throws -> PreparedServer {
        let configuration = try ServerConfiguration(sources)
        let production = configuration.environment == .production
        _ = try DataFolder.prepare(configuration.dataDirectory, tighten: !production)
        let loaded = ServerSecrets.load(
            dataDirectory: configuration.dataDirectory,
            sources: sources,
            generateMissing: !production,
            tightenPermissions: !production
        )
        guard let secrets = loaded.secrets else {
            throw StartupRefused(refusals: loaded.problems.map { Refusal(setting: $0.secret.setting.name, message: $0.description) })
        }
        return PreparedServer(configuration: configuration, secrets: secrets, warnings: [], generatedFiles: loaded.generatedFiles)
    }

    /// Transport, database and file-permission rules that only production enforces.
    static func deploymentFindings(_ configuration: ServerConfiguration, sources: ConfigurationSources) -> [Refusal] {
        var findings: [Refusal] = []
        if !configuration.servesHTTPS {
            findings.append(
                Refusal(
                    setting: Setting.tlsCertificate.name,
                    message:
                        "the server would speak plain HTTP; give --tls-cert and --tls-key, or --behind-tls-proxy when a TLS proxy terminates HTTPS"
                )
            )
        }
        if let tls = configuration.tls, let mode = SecureFile.mode(of: tls.privateKey), SecureFile.isAccessibleByOthers(mode) {
            findings.append(
                Refusal(
                    setting: Setting.tlsKey.name,
                    message:
                        "\(tls.privateKey.path) has mode \(String(mode, radix: 8)) and is readable by other users; run `chmod 600 \(tls.privateKey.path)`"
                )
            )
        }
        if let file = configuration.configFile, Setting.all.contains(where: { $0.isSecret && sources.file[$0.name] != nil }),
            let mode = SecureFile.mode(of: file), SecureFile.isAccessibleByOthers(mode)
        {
            findings.append(
                Refusal(
                    setting: Setting.configFile.name,
                    message: "\(file.path) holds secrets and has mode \(String(mode, radix: 8)); run `chmod 600 \(file.path)`"
                )
            )
        }
        if !configuration.allowRaisedRateLimits {
            for (name, limit) in configuration.rateLimits.raised {
                let setting = "TRADEKEEP_RATE_LIMIT_\(name.uppercased())"
                findings.append(
                    Refusal(
                        setting: setting,
                        message: "\(limit.limit)/min is above the default; set TRADEKEEP_ALLOW_RAISED_RATE_LIMITS=true if this is deliberate"
                    )
                )
            }
        }
        switch configuration.database {
        case .sqliteMemory:
            findings.append(Refusal(setting: Setting.databaseURL.name, message: "sqlite::memory: loses every record when the server stops"))
        case .postgres(let pg) where !pg.isLoopback && pg.sslMode != .verifyFull:
            findings.append(
                Refusal(
                    setting: Setting.databaseURL.name,
                    message:
                        "a PostgreSQL server on another host needs sslmode=verify-full (and sslrootcert=<CA file> unless the system trusts its CA)"
                )
            )
        default:
            break
        }
        return findings
    }
}

/// The data folder: 0700, and every file in it 0600.
enum DataFolder {
    /// Create the folder if needed; report (and with `tighten`, fix) loose permissions on it and its files.
    static func prepare(_ directory: URL, tighten: Bool) throws -> [Refusal] {
        let setting = Setting.dataDirectory.name
        let (_, previous): (Bool, mode_t?)
        do {
            (_, previous) = try SecureFile.ensureDirectory(directory)
        } catch {
            throw ConfigurationError(setting, "cannot use \(directory.path) as the data folder: \(error)")
        }
        var findings: [Refusal] = []
        if let previous, previous != SecureFile.directoryMode {
            findings.append(
                Refusal(setting: setting, message: "\(directory.path) has mode \(String(previous, radix: 8)); the data folder must be 0700")
            )
            if tighten { try? SecureFile.setMode(SecureFile.directoryMode, of: directory) }
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in entries.sorted() {
            let url = directory.appendingPathComponent(name)
            guard let mode = SecureFile.mode(of: url), SecureFile.isAccessibleByOthers(mode) else { continue }
            // Secret files are reported by the secret loader, naming their own setting.
            guard !SecretKind.allCases.contains(where: { $0.fileName == name }) else { continue }
            findings.append(
                Refusal(setting: setting, message: "\(url.path) has mode \(String(mode, radix: 8)); files in the data folder must be 0600")
            )
            if tighten {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
                try? SecureFile.setMode(isDirectory.boolValue ? SecureFile.directoryMode : SecureFile.fileMode, of: url)
            }
        }
        return findings
    }
}

/// `tradekeep init`: create the data folder and generate whatever secret is missing, in any environment.
public func initializeDataFolder(_ configuration: ServerConfiguration, sources: ConfigurationSources) throws -> ServerSecrets.Loaded {
    _ = try DataFolder.prepare(configuration.dataDirectory, tighten: true)
    return ServerSecrets.load(dataDirectory: configuration.dataDirectory, sources: sources, generateMissing: true, tightenPermissions: true)
}
