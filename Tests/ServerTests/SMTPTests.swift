// The SMTP client against a real SMTP server (Python's aiosmtpd): plain, STARTTLS and implicit TLS, AUTH PLAIN and
// LOGIN, certificate verification, no downgrade; configuration refusals; and the server's account mail and alert
// deliveries going out over SMTP (or waiting for it, without holding up a request).

import AuditLog
import Foundation
import Guard
import InteropSupport
import Logging
import NIOConcurrencyHelpers
import Storage
import Testing

@testable import Server

/// `interop/smtp_server.py`, running: its port and what it received.
final class SMTPServerProcess: Sendable {
    let process: Process
    let port: Int
    let out: URL

    static var available: Bool { Python.has("aiosmtpd") }

    init(_ arguments: [String], in directory: TemporaryDirectory, port: Int? = nil) throws {
        let out = directory.appending("smtp-\(UUID().uuidString.prefix(6)).jsonl")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", Python.interopDirectory.appendingPathComponent("smtp_server.py").path, "--out", out.path] + arguments
            + (port.map { ["--port", String($0)] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line += chunk
        }
        guard let text = String(data: line, encoding: .utf8), let match = text.firstMatch(of: #/port (\d+)/#) else {
            kill(process.processIdentifier, SIGKILL)
            throw ProcessTests.ProcessFailure(message: "smtp_server.py did not start: \(String(decoding: line, as: UTF8.self))")
        }
        self.process = process
        self.port = Int(match.output.1)!
        self.out = out
    }

    struct Received: Decodable {
        let mailFrom: String
        let rcptTos: [String]
        let data: String
        let tls: Bool
        let authenticated: Bool
    }

    var received: [Received] {
        guard let text = try? String(contentsOf: self.out, encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return text.split(separator: "\n").compactMap { try? decoder.decode(Received.self, from: Data($0.utf8)) }
    }

    /// SIGKILL: the test process ignores SIGTERM (the service lifecycle's handling), and children inherit that.
    func stop() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }
}

@Suite(.serialized) struct SMTPTests {
    static let enabled = TestEnvironment.needs(SMTPServerProcess.available)
    static let reason: Comment = "needs python3 with aiosmtpd (pip install -r interop/requirements.txt)"

    func mailer(_ url: String, caFile: URL? = nil, sender: String = "Tradekeep <tradekeep@example.com>") throws -> SMTPMailer {
        try SMTPMailer(
            configuration: try SMTPConfiguration(url: url, caFile: caFile),
            sender: sender,
            timeout: .seconds(20),
            logger: Logger(label: "smtp")
        )
    }

    static let message = MailMessage(
        to: "alice@example.com",
        subject: "Your Tradekeep account was locked",
        body: "Line one.\n.a line that starts with a dot\n..and one with two\nLast line."
    )

    @Test("Plain SMTP on loopback: the message arrives intact (headers, dot-stuffed lines, envelope)", .enabled(if: enabled, reason))
    func plain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try SMTPServerProcess([], in: directory)
        defer { server.stop() }
        try await self.mailer("smtp://127.0.0.1:\(server.port)").send(Self.message)
        let received = try #require(server.received.first)
        #expect(received.mailFrom == "tradekeep@example.com" && received.rcptTos == ["alice@example.com"])
        #expect(received.data.contains("Subject: Your Tradekeep account was locked\r\n"))
        #expect(received.data.contains("To: alice@example.com\r\n"))
        #expect(received.data.contains("\r\n.a line that starts with a dot\r\n..and one with two\r\nLast line."))
        #expect(!received.tls && !received.authenticated)
    }

    @Test("STARTTLS with AUTH PLAIN, and implicit TLS with AUTH LOGIN, against a private CA", .enabled(if: enabled, reason))
    func tlsAndAuth() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try TestCertificate.generate(in: directory)
        let tls = ["--cert", files.certificate.path, "--key", files.privateKey.path, "--auth", "mailer:s3cret pass"]
        let startTLS = try SMTPServerProcess(["--mode", "starttls"] + tls, in: directory)
        defer { startTLS.stop() }
        try await self.mailer("smtp+starttls://mailer:s3cret%20pass@localhost:\(startTLS.port)", caFile: files.caCertificate).send(Self.message)
        #expect(startTLS.received.first.map { $0.tls && $0.authenticated } == true)

        let implicit = try SMTPServerProcess(["--mode", "implicit", "--only", "LOGIN"] + tls, in: directory)
        defer { implicit.stop() }
        try await self.mailer("smtps://mailer:s3cret%20pass@127.0.0.1:\(implicit.port)", caFile: files.caCertificate).send(Self.message)
        #expect(implicit.received.first.map { $0.tls && $0.authenticated } == true)

        // A wrong password is the server's refusal, and the error never carries the password.
        await #expect {
            try await self.mailer("smtps://mailer:wrong%20guess@127.0.0.1:\(implicit.port)", caFile: files.caCertificate).send(Self.message)
        } throws: { error in
            guard case .rejected(let step, let code, _) = error as? SMTPError else { return false }
            return step.hasPrefix("AUTH") && code == 535 && !"\(error)".contains("wrong guess")
        }
        // Without the private CA the certificate is not trusted: nothing is sent.
        await #expect(throws: (any Error).self) {
            try await self.mailer("smtps://mailer:s3cret%20pass@127.0.0.1:\(implicit.port)").send(Self.message)
        }
        #expect(implicit.received.count == 1)
    }

    @Test("A server that does not offer STARTTLS gets nothing: no fallback to plain text", .enabled(if: enabled, reason))
    func noDowngrade() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try SMTPServerProcess(["--auth", "mailer:secret"], in: directory)
        defer { server.stop() }
        await #expect(throws: SMTPError.startTLSUnavailable) {
            try await self.mailer("smtp+starttls://mailer:secret@127.0.0.1:\(server.port)").send(Self.message)
        }
        #expect(server.received.isEmpty)
    }

    @Test("TRADEKEEP_SMTP_URL: schemes, default ports, plain text only to loopback unless allowed, a bad CA file refused")
    func configuration() throws {
        #expect(try SMTPConfiguration(url: "smtps://mail.example.com").port == 465)
        #expect(try SMTPConfiguration(url: "smtp+starttls://u:p%40ss@mail.example.com").port == 587)
        #expect(try SMTPConfiguration(url: "smtp+starttls://u:p%40ss@mail.example.com").password == "p@ss")
        #expect(try SMTPConfiguration(url: "smtp://127.0.0.1").port == 25)
        for bad in ["http://mail.example.com", "smtp://", "smtps://u@mail.example.com", "smtp://mail.example.com/path"] {
            #expect(throws: SMTPError.self) { try SMTPConfiguration(url: bad) }
        }
        func configured(_ extra: [String: String]) throws -> ServerConfiguration {
            try ServerConfiguration(ConfigurationSources(environment: extra))
        }
        #expect(try configured([Setting.smtpURL.name: "smtp://127.0.0.1:2525"]).smtp?.port == 2525)
        #expect {
            try configured([Setting.smtpURL.name: "smtp://relay.example.com"])
        } throws: { error in
            (error as? ConfigurationError)?.setting == "TRADEKEEP_SMTP_URL" && "\(error)".contains("TRADEKEEP_SMTP_ALLOW_PLAINTEXT")
        }
        #expect(
            try configured([Setting.smtpURL.name: "smtp://relay.example.com", Setting.smtpAllowPlaintext.name: "true"]).smtp?.host
                == "relay.example.com"
        )
        #expect(throws: ConfigurationError.self) {
            try configured([Setting.smtpURL.name: "smtps://mail.example.com", Setting.smtpCAFile.name: "/nonexistent/ca.pem"])
        }
        // The password never appears in a refusal.
        #expect {
            try configured([Setting.smtpURL.name: "ftp://user:hunter2hunter2@mail.example.com"])
        } throws: { !"\($0)".contains("hunter2") }
    }

    @Test(
        "With SMTP configured, account mail (verification, new sign-in, lockout, reset) goes out over SMTP; while it is down requests are unaffected and mail waits",
        .enabled(if: enabled, reason)
    )
    func accountMailOverSMTP() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // The mail server is down at first: its port is chosen, nothing listens yet.
        let port = try Self.freePort()
        let app = try AuthDriver.application([Setting.smtpURL.name: "smtp://127.0.0.1:\(port)"])
        let outbox = app.prepared.configuration.dataDirectory.appendingPathComponent("outbox")
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            _ = try await driver.signIn(user)
            for index in 0..<5 {
                let wrong = try await driver.post(
                    "/api/v1/auth/login",
                    ["email": user.email, "password": "not the password at all"],
                    ip: "10.61.0.\(index)"
                )
                #expect([401, 423].contains(wrong.status.code))
            }
            #expect(try await driver.post("/api/v1/auth/password/forgot", ["email": user.email], ip: user.ip).status == .accepted)
            // Nothing is lost: the messages wait in the outbox.
            #expect(try await BotTests.Session(driver: driver, user: user, token: "").eventually(30) { Self.pending(outbox) >= 4 })

            let server = try SMTPServerProcess([], in: directory, port: port)
            defer { server.stop() }
            let subjects = [
                "Confirm your email", "Two-factor authentication was set up", "Your Tradekeep account was locked", "Reset your Tradekeep password",
            ]
            let session = BotTests.Session(driver: driver, user: user, token: "")
            let arrived = try await session.eventually(60) {
                let received = server.received.filter { $0.rcptTos == [user.email] }.map(\.data)
                return subjects.allSatisfy { subject in received.contains { $0.contains(subject) } }
            }
            let received = server.received.map { $0.data.split(separator: "\r\n").first { $0.hasPrefix("Subject:") } ?? "" }
            #expect(arrived, "received: \(received)")
            // Relayed mail is deleted (it may hold a one-time link).
            #expect(try await session.eventually(10) { Self.pending(outbox) == 0 })
            _ = inside
        }
    }

    static func pending(_ outbox: URL) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.count
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
