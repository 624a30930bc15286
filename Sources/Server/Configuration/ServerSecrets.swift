// The server's own secrets: generated with the CSPRNG on first start, kept 0600 in the data folder,
// or supplied through TRADEKEEP_* variables. Nothing here has a built-in default value.

import AuditLog
import Crypto
import Foundation
import Vault

/// The secrets the server needs.
public enum SecretKind: String, CaseIterable, Sendable {
    case jwt
    case auditSigning
    case backup
    case localKEK

    public var setting: Setting {
        switch self {
        case .jwt: .jwtSecret
        case .auditSigning: .auditSigningKey
        case .backup: .backupKey
        case .localKEK: .localKEK
        }
    }

    public var fileName: String {
        switch self {
        case .jwt: "jwt.key"
        case .auditSigning: "audit-signing.key"
        case .backup: "backup.key"
        case .localKEK: "kek-keyring.json"
        }
    }

    /// HS256 wants at least 32 bytes; Ed25519 seeds, Fernet keys and AES-256 KEKs are exactly 32.
    var acceptedByteCounts: ClosedRange<Int> {
        switch self {
        case .jwt: 32...1024
        case .auditSigning, .backup, .localKEK: 32...32
        }
    }

    var generatedByteCount: Int { self == .jwt ? 64 : 32 }
}

/// Something wrong with one secret; in production every problem refuses start-up.
public struct SecretProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case missing
        case malformed(String)
        case wrongLength(actual: Int, expected: ClosedRange<Int>)
        case placeholder(String)
        case readableByOthers(path: String, mode: String)
    }

    public let secret: SecretKind
    public let kind: Kind
    /// Where the value came from: the variable name or the file path.
    public let source: String

    /// Whether the server cannot run at all with this secret (as opposed to running with a weak one in development).
    public var isUnusable: Bool {
        switch self.kind {
        case .missing, .malformed: true
        case .wrongLength(let actual, _): actual < 16 || self.secret != .jwt
        case .placeholder, .readableByOthers: false
        }
    }

    public var description: String {
        let name = self.secret.setting.name
        let file = self.secret.fileName
        switch self.kind {
        case .missing:
            return "\(name) is missing: set the variable, or run `tradekeep init --data-dir <dir>` to generate \(file) in the data folder"
        case .malformed(let why):
            return "\(name) from \(self.source) is malformed: \(why)"
        case .wrongLength(let actual, let expected):
            let wanted = expected.lowerBound == expected.upperBound ? "exactly \(expected.lowerBound)" : "at least \(expected.lowerBound)"
            return "\(name) from \(self.source) has \(actual) bytes; \(wanted) random bytes are required"
        case .placeholder(let why):
            return "\(name) from \(self.source) looks like a placeholder (\(why)); generate a real one with `tradekeep init`"
        case .readableByOthers(let path, let mode):
            return "\(name): \(path) has mode \(mode) and is readable by other users; run `chmod 600 \(path)`"
        }
    }
}

public struct ServerSecrets: Sendable {
    public let jwtKey: SecretBytes
    public let auditSigningKey: AuditSigningKey
    /// The Fernet key for encrypted backups.
    public let backupKey: SecretBytes
    public let keyring: LocalKeyring
    /// The keyring file, when the local KEK came from the data folder (nil when from TRADEKEEP_LOCAL_KEK).
    public let keyringFile: URL?

    /// The outcome of loading: the secrets when usable, every problem found, and the files generated.
    public struct Loaded: Sendable {
        public var secrets: ServerSecrets?
        public var problems: [SecretProblem]
        public var generatedFiles: [String]
    }

    /// Load each secret from its variable or its data-folder file; generate the missing ones when asked.
    /// Files with loose permissions are reported, and tightened when `tightenPermissions` is set.
    public static func load(
        dataDirectory: URL,
        sources: ConfigurationSources,
        generateMissing: Bool,
        tightenPermissions: Bool
    ) -> Loaded {
        var problems: [SecretProblem] = []
        var generated: [String] = []
        var material: [SecretKind: SecretBytes] = [:]
        var keyring: LocalKeyring?
        var keyringFile: URL?

        for kind in SecretKind.allCases {
            let file = dataDirectory.appendingPathComponent(kind.fileName)
            var raw: [UInt8]
            let source: String
            if let (value, origin) = sources.valueAndOrigin(kind.setting) {
                raw = Array(value.utf8)
                source = origin == .file ? (sources.fileURL?.path ?? "the config file") : kind.setting.name
            } else if SecureFile.exists(file) {
                source = file.path
                if let mode = SecureFile.mode(of: file), SecureFile.isAccessibleByOthers(mode) {
                    // Reported even when tightened, so the operator learns the file had been exposed.
                    if tightenPermissions { try? SecureFile.setMode(SecureFile.fileMode, of: file) }
                    problems.append(
                        SecretProblem(secret: kind, kind: .readableByOthers(path: file.path, mode: String(mode, radix: 8)), source: source)
                    )
                }
                do {
                    raw = try SecureFile.read(file)
                } catch {
                    problems.append(SecretProblem(secret: kind, kind: .malformed("cannot read it: \(error)"), source: source))
                    continue
                }
            } else if generateMissing {
                raw = Self.generateFile(kind)
                do {
                    try SecureFile.write(raw, to: file)
                    generated.append(kind.fileName)
                } catch SecureFileError.io(_, _, let code) where code == EEXIST {
                    // Another process created it first: use theirs.
                    raw.resetBytes()
                    raw = (try? SecureFile.read(file)) ?? []
                } catch {
                    problems.append(SecretProblem(secret: kind, kind: .malformed("cannot create \(file.path): \(error)"), source: file.path))
                    continue
                }
                source = file.path
            } else {
                problems.append(SecretProblem(secret: kind, kind: .missing, source: kind.setting.name))
                continue
            }
            defer { raw.resetBytes() }

            if kind == .localKEK, source == file.path {
                do {
                    let parsed = try LocalKeyring.parse(raw)
                    for entry in parsed.entries {
                        if let weakness = entry.key.withUnsafeBytes({ SecretStrength.weakness(ofDecoded: Array($0)) }) {
                            problems.append(
                                SecretProblem(secret: kind, kind: .placeholder("key version \(entry.version): \(weakness)"), source: source)
                            )
                        }
                    }
                    keyring = parsed
                    keyringFile = file
                } catch {
                    problems.append(SecretProblem(secret: kind, kind: .malformed("\(error)"), source: source))
                }
                continue
            }

            let text = String(decoding: raw, as: UTF8.self)
            if let marker = SecretStrength.placeholderMarker(in: text) {
                problems.append(SecretProblem(secret: kind, kind: .placeholder("contains \"\(marker)\""), source: source))
            }
            guard var decoded = Base64.decode(text) else {
                problems.append(
                    SecretProblem(
                        secret: kind,
                        kind: .malformed("expected base64 (generate with `openssl rand -base64 \(kind.generatedByteCount)`)"),
                        source: source
                    )
                )
                continue
            }
            defer { decoded.resetBytes() }
            if !kind.acceptedByteCounts.contains(decoded.count) {
                problems.append(
                    SecretProblem(secret: kind, kind: .wrongLength(actual: decoded.count, expected: kind.acceptedByteCounts), source: source)
                )
            }
            if let weakness = SecretStrength.weakness(ofDecoded: decoded) {
                problems.append(SecretProblem(secret: kind, kind: .placeholder(weakness), source: source))
            }
            let secret = SecretBytes(copying: decoded)
            if kind == .localKEK {
                // A key supplied as a variable is keyring version 1; its id derives from the key so that
                // every instance given the same key agrees on it.
                let id = secret.withUnsafeBytes { bytes in
                    SHA256.hash(data: Array("tradekeep keyring id\n".utf8) + Array(bytes)).prefix(16).map { String(format: "%02x", $0) }.joined()
                }
                keyring = LocalKeyring(
                    id: "env-\(id)",
                    currentVersion: 1,
                    entries: [.init(version: 1, createdAt: Date(timeIntervalSince1970: 0), key: secret)]
                )
            } else {
                material[kind] = secret
            }
        }

        var secrets: ServerSecrets?
        if !problems.contains(where: \.isUnusable), let jwt = material[.jwt], let audit = material[.auditSigning],
            let backup = material[.backup], let keyring,
            let auditKey = try? audit.withUnsafeBytes({ try AuditSigningKey(seed: $0) })
        {
            secrets = ServerSecrets(jwtKey: jwt, auditSigningKey: auditKey, backupKey: backup, keyring: keyring, keyringFile: keyringFile)
        }
        return Loaded(secrets: secrets, problems: problems, generatedFiles: generated)
    }

    /// The bytes of a freshly generated secret file.
    static func generateFile(_ kind: SecretKind) -> [UInt8] {
        switch kind {
        case .localKEK:
            return LocalKeyring.generate().serialized()
        case .backup:
            // A standard Fernet key (URL-safe base64), so Python's `cryptography` can read the file as is.
            return SecretBytes.random(count: 32).withUnsafeBytes { Array(Base64.urlSafeEncode($0).utf8) } + [0x0A]
        case .jwt, .auditSigning:
            return SecretBytes.random(count: kind.generatedByteCount).withUnsafeBytes { Array(Data($0).base64EncodedString().utf8) } + [0x0A]
        }
    }
}

/// Heuristics that catch secrets a person typed instead of generating.
enum SecretStrength {
    /// Words found in sample configurations. Only long markers, so a random base64 string never matches by chance.
    static let placeholderMarkers = [
        "changeme", "change-me", "change_me", "changeit", "secret", "password", "placeholder", "example",
        "default", "insecure", "replace", "dummy", "sample", "xxxxxx", "000000", "123456",
    ]

    static func placeholderMarker(in text: String) -> String? {
        let lowered = text.lowercased()
        return self.placeholderMarkers.first { lowered.contains($0) }
    }

    /// 32 random bytes almost surely hold ~30 distinct values; fewer than half that means a pattern.
    static func weakness(ofDecoded bytes: [UInt8]) -> String? {
        guard bytes.count >= 16 else { return nil }
        let distinct = Set(bytes).count
        return distinct < min(16, bytes.count / 2) ? "only \(distinct) distinct byte values, not random" : nil
    }
}
