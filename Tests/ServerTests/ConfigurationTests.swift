// Configuration precedence (flags > variables > config file > defaults) and clear errors for bad values.

import Foundation
import Storage
import Testing

@testable import Server

@Suite struct ConfigurationTests {
    @Test("Defaults: 127.0.0.1:8080, ./tradekeep-data, SQLite in the data folder, development")
    func defaults() throws {
        let configuration = try ServerConfiguration(ConfigurationSources())
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.environment == .development)
        #expect(configuration.dataDirectory.path.hasSuffix("/tradekeep-data"))
        #expect(configuration.database == .sqliteFile(path: configuration.dataDirectory.appendingPathComponent("tradekeep.sqlite").path))
        #expect(configuration.tls == nil && !configuration.servesHTTPS)
    }

    @Test("Flags override variables, which override the config file, which overrides defaults")
    func precedence() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.appending("tradekeep.conf")
        try """
        # comment
        TRADEKEEP_PORT=7001
        TRADEKEEP_HOST="10.0.0.1"
        TRADEKEEP_LOG_LEVEL=debug
        TRADEKEEP_PUBLIC_URL=https://file.example
        """.write(to: file, atomically: true, encoding: .utf8)
        let sources = try ConfigurationSources.load(
            flags: [Setting.port.name: "7003", Setting.configFile.name: file.path],
            environment: [Setting.port.name: "7002", Setting.host.name: "10.0.0.2"]
        )
        let configuration = try ServerConfiguration(sources)
        #expect(configuration.port == 7003)
        #expect(configuration.host == "10.0.0.2")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.publicURL.absoluteString == "https://file.example")
        #expect(sources.valueAndOrigin(.port)?.origin == .flag)
        #expect(sources.valueAndOrigin(.host)?.origin == .environment)
        #expect(sources.valueAndOrigin(.logLevel)?.origin == .file)
    }

    @Test("A config file naming an unknown setting is refused with its line number")
    func unknownSettingInFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.appending("bad.conf")
        try "TRADEKEEP_PORT=1\nTRADEKEEP_PROT=2\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError(Setting.configFile.name, "\(file.path) line 2: unknown setting TRADEKEEP_PROT")) {
            try ConfigurationSources.load(flags: [Setting.configFile.name: file.path], environment: [:])
        }
    }

    @Test(
        "Bad values name their setting",
        arguments: [
            (Setting.port.name, "eighty"), (Setting.port.name, "70000"), (Setting.environment.name, "staging"),
            (Setting.logLevel.name, "loud"), (Setting.behindTLSProxy.name, "maybe"), (Setting.publicURL.name, "ftp://x"),
            (Setting.databaseURL.name, "mysql://db"), (Setting.securityContact.name, "security@example.com"),
        ]
    )
    func badValues(setting: String, value: String) {
        #expect {
            try ServerConfiguration(ConfigurationSources(environment: [setting: value]))
        } throws: { error in
            (error as? ConfigurationError)?.setting == setting
        }
    }

    @Test("TLS needs both the certificate and the key")
    func tlsPair() {
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration(ConfigurationSources(flags: [Setting.tlsCertificate.name: "/tmp/cert.pem"]))
        }
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration(ConfigurationSources(flags: [Setting.tlsKey.name: "/tmp/key.pem"]))
        }
    }

    @Test("A database URL error never repeats the password")
    func databaseURLErrorHidesPassword() {
        #expect {
            try ServerConfiguration(ConfigurationSources(environment: [Setting.databaseURL.name: "postgres://u:hunter2@db/x?sslmode=bogus"]))
        } throws: { error in
            let text = "\(error)"
            return text.contains(Setting.databaseURL.name) && text.contains("sslmode") && !text.contains("hunter2")
        }
    }

    @Test("docs/CONFIGURATION.md documents every setting")
    func everySettingDocumented() throws {
        let doc = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("docs/CONFIGURATION.md"), encoding: .utf8)
        for setting in Setting.all {
            #expect(doc.contains("`\(setting.name)`"), "\(setting.name) is not documented")
            if let flag = setting.flag {
                #expect(doc.contains("`--\(flag)"), "--\(flag) is not documented")
            }
        }
    }
}
