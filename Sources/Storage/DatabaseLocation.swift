// Where the database lives, parsed from TRADEKEEP_DATABASE_URL (`sqlite:<path>`, `sqlite::memory:`, `postgres://…`).

import Foundation

/// A parsed database URL. Its description never contains the password.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(path: String)
    case sqliteMemory
    case postgres(PostgresLocation)

    public var description: String {
        switch self {
        case .sqliteFile(let path): "sqlite:\(path)"
        case .sqliteMemory: "sqlite::memory:"
        case .postgres(let location): location.description
        }
    }

    /// `postgres` or `sqlite`: the kind recorded in backups.
    public var kindName: String { self.isPostgres ? "postgres" : "sqlite" }

    public var isPostgres: Bool {
        if case .postgres = self { return true }
        return false
    }
}

/// libpq's `sslmode` values that Tradekeep supports.
public enum PostgresSSLMode: String, Sendable, CaseIterable {
    case disable
    case prefer
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
}

public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var sslMode: PostgresSSLMode
    /// CA certificate file (PEM) for verify-ca / verify-full; the system trust store when nil.
    public var sslRootCertificate: String?
    /// Schema holding Tradekeep's tables (created if missing); PostgreSQL's default search path when nil.
    public var schema: String?

    public var isLoopback: Bool {
        ["localhost", "127.0.0.1", "::1", "[::1]"].contains(self.host.lowercased()) || self.host.hasPrefix("127.")
    }

    public var description: String {
        var text = "postgres://\(self.username)@\(self.host):\(self.port)/\(self.database ?? "")?sslmode=\(self.sslMode.rawValue)"
        if let root = self.sslRootCertificate { text += "&sslrootcert=\(root)" }
        if let schema = self.schema { text += "&schema=\(schema)" }
        return text
    }
}

public struct DatabaseURLError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}

extension DatabaseLocation {
    /// Parse a database URL. Errors say what is wrong without repeating the URL (it may carry a password).
    public init(url text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "sqlite::memory:" || text == "sqlite:memory" {
            self = .sqliteMemory
            return
        }
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else { throw DatabaseURLError(message: "sqlite: needs a file path, e.g. sqlite:./tradekeep-data/tradekeep.sqlite") }
            self = .sqliteFile(path: path)
            return
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw DatabaseURLError(message: "expected sqlite:<path>, sqlite::memory: or postgres://user:password@host:port/database")
        }
        guard let host = components.host, !host.isEmpty else { throw DatabaseURLError(message: "the postgres URL has no host") }
        guard let user = components.user, !user.isEmpty else { throw DatabaseURLError(message: "the postgres URL has no user name") }
        var location = PostgresLocation(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: components.path.count > 1 ? String(components.path.dropFirst()) : nil,
            sslMode: .prefer,
            sslRootCertificate: nil,
            schema: nil
        )
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name.lowercased() {
            case "sslmode":
                guard let mode = PostgresSSLMode(rawValue: value.lowercased()) else {
                    let known = PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw DatabaseURLError(message: "sslmode '\(value)' is not supported; use one of \(known)")
                }
                location.sslMode = mode
            case "sslrootcert":
                location.sslRootCertificate = value
            case "schema", "search_path":
                guard value.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                    throw DatabaseURLError(message: "schema must be a lower-case SQL identifier (letters, digits, underscore)")
                }
                location.schema = value
            default:
                throw DatabaseURLError(message: "unknown postgres URL parameter '\(item.name)'; supported: sslmode, sslrootcert, schema")
            }
        }
        if location.sslRootCertificate != nil, location.sslMode != .verifyCA, location.sslMode != .verifyFull {
            throw DatabaseURLError(message: "sslrootcert is only used with sslmode=verify-ca or verify-full")
        }
        self = .postgres(location)
    }
}
