// Mail over SMTP (RFC 5321) on SwiftNIO: implicit TLS (`smtps://`, RFC 8314), STARTTLS (`smtp+starttls://`, RFC
// 3207; refused rather than downgraded when the server does not offer it) or plain `smtp://` (loopback only unless
// configured otherwise), AUTH PLAIN or LOGIN (RFC 4954), certificates verified against the system's roots plus an
// optional CA file. One connection per message, under one time limit; the password never reaches a log or an error.

import Foundation
import Guard
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to send: parsed from TRADEKEEP_SMTP_URL.
public struct SMTPConfiguration: Sendable, Equatable {
    public enum Security: String, Sendable, Equatable {
        case plain = "smtp"
        case startTLS = "smtp+starttls"
        case implicitTLS = "smtps"
    }

    public var security: Security
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    /// PEM file of extra trust roots (TRADEKEEP_SMTP_CA_FILE), e.g. a private CA.
    public var caFile: URL?
    /// The name given in EHLO.
    public var heloName: String

    /// `smtp://`, `smtps://` or `smtp+starttls://`, with optional `user:password@` (percent-encoded) and port.
    public init(url text: String, caFile: URL? = nil, heloName: String = "localhost") throws(SMTPError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let security = Security(rawValue: scheme)
        else { throw .configuration("must start with smtp://, smtps:// or smtp+starttls://") }
        guard let host = components.host, !host.isEmpty else { throw .configuration("names no host") }
        guard components.path.isEmpty || components.path == "/", components.query == nil else {
            throw .configuration("takes no path or query")
        }
        self.security = security
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? (security == .implicitTLS ? 465 : security == .startTLS ? 587 : 25)
        self.username = components.percentEncodedUser.flatMap { $0.removingPercentEncoding }
        self.password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        if (self.username == nil) != (self.password == nil) { throw .configuration("needs both a user and a password, or neither") }
        self.caFile = caFile
        self.heloName = heloName
    }

    /// Whether the host is this machine (127.0.0.0/8, ::1, localhost): the only place plain SMTP may go by default.
    public var isLoopback: Bool {
        self.host == "localhost" || self.host == "::1" || self.host.hasPrefix("127.")
    }
}

public enum SMTPError: Error, Equatable, CustomStringConvertible {
    case configuration(String)
    /// The server answered `code` where another was expected (its text, never our credentials).
    case rejected(step: String, code: Int, text: String)
    case startTLSUnavailable
    case authenticationUnavailable
    case connectionClosed
    case timedOut
    case invalidAddress(String)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .configuration(let why): "TRADEKEEP_SMTP_URL \(why)"
        case .rejected(let step, let code, let text): "the SMTP server refused \(step): \(code) \(text)"
        case .startTLSUnavailable: "the SMTP server does not offer STARTTLS; nothing was sent (no fallback to plain text)"
        case .authenticationUnavailable: "the SMTP server offers neither AUTH PLAIN nor AUTH LOGIN"
        case .connectionClosed: "the SMTP server closed the connection"
        case .timedOut: "the SMTP server did not answer in time"
        case .invalidAddress(let address): "not a mail address: \(address)"
        case .protocolViolation(let why): "the SMTP server broke the protocol: \(why)"
        }
    }
}

public struct SMTPMailer: Mailer {
    let configuration: SMTPConfiguration
    let sender: String
    let timeout: Duration
    let logger: Logger
    let tlsContext: NIOSSLContext?

    public init(configuration: SMTPConfiguration, sender: String, timeout: Duration = .seconds(30), logger: Logger) throws {
        self.configuration = configuration
        self.sender = sender
        self.timeout = timeout
        self.logger = logger
        if configuration.security == .plain {
            self.tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = .fullVerification
            if let caFile = configuration.caFile {
                let extra = try NIOSSLCertificate.fromPEMFile(caFile.path)
                tls.trustRoots = .default
                tls.additionalTrustRoots = [.certificates(extra)]
            }
            self.tlsContext = try NIOSSLContext(configuration: tls)
        }
    }

    public func send(_ message: MailMessage) async throws {
        try await self.deliver(OutboxMailer.render(message, from: self.sender, date: Date()), to: message.to)
        self.logger.notice(
            "mail sent over SMTP",
            metadata: ["mail.subject": .string(message.subject), "smtp.host": .string(self.configuration.host)]
        )
    }

    /// Send a rendered RFC 5322 message (CRLF lines) to one recipient.
    func deliver(_ data: String, to recipient: String) async throws {
        let from = try Self.address(self.sender)
        let to = try Self.address(recipient)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.transact(from: from, to: to, data: data) }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                throw SMTPError.timedOut
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The address inside `Name <address>` or the whole text; no line breaks or angle brackets inside.
    static func address(_ text: String) throws(SMTPError) -> String {
        var address = text.trimmingCharacters(in: .whitespaces)
        if let open = address.lastIndex(of: "<"), address.hasSuffix(">") {
            address = String(address[address.index(after: open)..<address.index(before: address.endIndex)])
        }
        guard !address.isEmpty, address.contains("@"), !address.contains(where: { "<>\r\n \t".contains($0) }) else { throw .invalidAddress(text) }
        return address
    }

    func transact(from: String, to: String, data: String) async throws {
        let configuration = self.configuration
        let implicit = configuration.security == .implicitTLS ? self.tlsContext : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicit {
                        try channel.pipeline.syncOperations.addHandler(try Self.tlsHandler(implicit, host: configuration.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    return try NIOAsyncChannel<String, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var session = SMTPSession(lines: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.expect(220, step: "the connection")
            var capabilities = try await session.command("EHLO \(configuration.heloName)", expect: 250, step: "EHLO")
            if configuration.security == .startTLS {
                guard capabilities.contains(where: { $0.uppercased() == "STARTTLS" }) else { throw SMTPError.startTLSUnavailable }
                _ = try await session.command("STARTTLS", expect: 220, step: "STARTTLS")
                try await channel.channel.pipeline.addHandler(try Self.tlsHandler(self.tlsContext!, host: configuration.host), position: .first)
                capabilities = try await session.command("EHLO \(configuration.heloName)", expect: 250, step: "EHLO")
            }
            if let user = configuration.username, let password = configuration.password {
                let mechanisms = Set(
                    capabilities.filter { $0.uppercased().hasPrefix("AUTH") }
                        .flatMap { $0.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() } }
                )
                if mechanisms.contains("PLAIN") {
                    let token = Data("\0\(user)\0\(password)".utf8).base64EncodedString()
                    _ = try await session.command("AUTH PLAIN \(token)", expect: 235, step: "AUTH PLAIN", redacted: "AUTH PLAIN …")
                } else if mechanisms.contains("LOGIN") {
                    _ = try await session.command("AUTH LOGIN", expect: 334, step: "AUTH LOGIN")
                    _ = try await session.command(Data(user.utf8).base64EncodedString(), expect: 334, step: "AUTH LOGIN", redacted: "…")
                    _ = try await session.command(Data(password.utf8).base64EncodedString(), expect: 235, step: "AUTH LOGIN", redacted: "…")
                } else {
                    throw SMTPError.authenticationUnavailable
                }
            }
            _ = try await session.command("MAIL FROM:<\(from)>", expect: 250, step: "MAIL FROM")
            _ = try await session.command("RCPT TO:<\(to)>", expect: [250, 251], step: "RCPT TO")
            _ = try await session.command("DATA", expect: 354, step: "DATA")
            try await outbound.write(ByteBuffer(string: Self.dotStuffed(data) + ".\r\n"))
            try await session.expect(250, step: "the message")
            _ = try? await session.command("QUIT", expect: 221, step: "QUIT")
        }
    }

    static func tlsHandler(_ context: NIOSSLContext, host: String) throws -> NIOSSLClientHandler {
        // An IP address is checked against the certificate's IP names and sent without SNI.
        let isAddress = host.contains(":") || host.split(separator: ".").allSatisfy { UInt8($0) != nil }
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }

    /// RFC 5321 §4.5.2: a line that starts with a dot gets another; the text ends with CRLF.
    static func dotStuffed(_ text: String) -> String {
        var lines = text.components(separatedBy: "\r\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + "\r\n"
    }
}

/// Reads replies (possibly multi-line) and writes commands.
struct SMTPSession {
    var lines: NIOAsyncChannelInboundStream<String>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    /// One reply: its code and the text of each line (capabilities after EHLO).
    mutating func reply() async throws -> (code: Int, lines: [String]) {
        var texts: [String] = []
        while true {
            guard let line = try await self.lines.next() else { throw SMTPError.connectionClosed }
            guard line.count >= 3, let code = Int(line.prefix(3)), (200...599).contains(code) else {
                throw SMTPError.protocolViolation("a reply line without a code")
            }
            let separator = line.count > 3 ? line[line.index(line.startIndex, offsetBy: 3)] : " "
            texts.append(line.count > 4 ? String(line.dropFirst(4)) : "")
            if separator != "-" { return (code, texts) }
            guard texts.count < 100 else { throw SMTPError.protocolViolation("a reply of more than 100 lines") }
        }
    }

    mutating func expect(_ codes: Set<Int>, step: String) async throws -> [String] {
        let reply = try await self.reply()
        guard codes.contains(reply.code) else {
            throw SMTPError.rejected(step: step, code: reply.code, text: String(reply.lines.joined(separator: " ").prefix(200)))
        }
        return reply.lines
    }

    mutating func expect(_ code: Int, step: String) async throws {
        _ = try await self.expect([code], step: step)
    }

    /// Send a command; `redacted` is what an error may say it was (never a credential).
    mutating func command(_ line: String, expect codes: Set<Int>, step: String, redacted: String? = nil) async throws -> [String] {
        try await self.outbound.write(ByteBuffer(string: line + "\r\n"))
        return try await self.expect(codes, step: step)
    }

    mutating func command(_ line: String, expect code: Int, step: String, redacted: String? = nil) async throws -> [String] {
        try await self.command(line, expect: [code], step: step, redacted: redacted)
    }
}

/// CRLF-terminated lines (at most 4 KiB each).
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 4096 { throw SMTPError.protocolViolation("a line longer than 4 KiB") }
            return .needMoreData
        }
        guard let line = buffer.readString(length: view.distance(from: view.startIndex, to: newline) + 1) else {
            throw SMTPError.protocolViolation("a line that is not UTF-8")
        }
        // (CR LF is one Character in Swift: trim by scalars.)
        context.fireChannelRead(Self.wrapInboundOut(line.trimmingCharacters(in: .newlines)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
