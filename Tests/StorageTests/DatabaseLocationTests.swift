// Parsing TRADEKEEP_DATABASE_URL.

import Storage
import Testing

@Suite struct DatabaseLocationTests {
    @Test("SQLite forms")
    func sqlite() throws {
        #expect(try DatabaseLocation(url: "sqlite::memory:") == .sqliteMemory)
        #expect(try DatabaseLocation(url: "sqlite:./data/tk.sqlite") == .sqliteFile(path: "./data/tk.sqlite"))
        #expect(try DatabaseLocation(url: "sqlite:///var/lib/tk.sqlite") == .sqliteFile(path: "/var/lib/tk.sqlite"))
        #expect(throws: DatabaseURLError.self) { try DatabaseLocation(url: "sqlite:") }
    }

    @Test("PostgreSQL with TLS verification, a CA file and a schema")
    func postgres() throws {
        let location = try DatabaseLocation(url: "postgres://tk:p%40ss@db.example:6432/trading?sslmode=verify-full&sslrootcert=/etc/ca.pem&schema=tk")
        guard case .postgres(let pg) = location else {
            Issue.record("not postgres")
            return
        }
        #expect(pg.host == "db.example" && pg.port == 6432 && pg.username == "tk" && pg.password == "p@ss")
        #expect(pg.database == "trading")
        #expect(pg.sslMode == .verifyFull)
        #expect(pg.sslRootCertificate == "/etc/ca.pem")
        #expect(pg.schema == "tk")
        #expect(!pg.isLoopback)
        #expect(!location.description.contains("p@ss") && !location.description.contains("p%40ss"))
    }

    @Test("Defaults: port 5432, sslmode=prefer; loopback detection")
    func postgresDefaults() throws {
        guard case .postgres(let pg) = try DatabaseLocation(url: "postgresql://me@localhost/db") else {
            Issue.record("not postgres")
            return
        }
        #expect(pg.port == 5432 && pg.sslMode == .prefer && pg.isLoopback && pg.password == nil)
    }

    @Test(
        "Bad URLs are refused with a reason",
        arguments: [
            ("mysql://x", "expected sqlite"),
            ("postgres://db.example/x", "no user name"),
            ("postgres://u@db/x?sslmode=sometimes", "sslmode 'sometimes'"),
            ("postgres://u@db/x?sslrootcert=/ca.pem", "only used with"),
            ("postgres://u@db/x?schema=Robert');DROP", "schema must be"),
            ("postgres://u@db/x?application=x", "unknown postgres URL parameter"),
        ]
    )
    func bad(url: String, reason: String) {
        #expect {
            try DatabaseLocation(url: url)
        } throws: { error in
            (error as? DatabaseURLError)?.message.contains(reason) == true
        }
    }
}
