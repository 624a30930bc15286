// Drives the auth API like a client would: registers, confirms TOTP and signs in, each user from its own IP.

import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import Vault

@testable import Server

struct TestUser: Sendable {
    let email: String
    var password: String
    let userID: String
    let secret: SecretBytes
    var backupCodes: [String]
    let ip: String
}

struct SignedIn: Sendable {
    let accessToken: String
    let refreshToken: String
    let setCookie: String
}

struct AuthDriver: Sendable {
    let client: any TestClientProtocol
    let clock: TestClock

    static let password = "correct horse battery staple"

    /// An application that trusts X-Forwarded-For (as behind a TLS proxy), so each test user has its own IP.
    static func application(_ settings: [String: String] = [:], environment: [String: String] = [:]) throws -> TestApplication {
        try TestApplication([Setting.behindTLSProxy.name: "true"].merging(settings) { _, new in new }, environment: environment)
    }

    static func randomIP() -> String { "10.\(Int.random(in: 0...255)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))" }

    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        json: [String: Any]? = nil,
        ip: String,
        token: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        headers[.xForwardedFor] = ip
        headers[.userAgent] = headers[.userAgent] ?? "tradekeep-tests"
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        }
        return try await self.client.execute(uri: uri, method: method, headers: headers, body: body)
    }

    func post(_ uri: String, _ json: [String: Any], ip: String, token: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await self.request(.post, uri, json: json, ip: ip, token: token, headers: headers)
    }

    /// A code for the current step, then the clock moves on so the next code is for a fresh step.
    func code(_ user: TestUser) -> String {
        let code = TOTP.standard.code(secret: user.secret, at: self.clock.now)
        self.clock.advance(by: 30)
        return code
    }

    func register(email: String, password: String = AuthDriver.password, ip: String) async throws -> TestResponse {
        try await self.post("/api/v1/auth/register", ["email": email, "password": password], ip: ip)
    }

    /// Register and confirm TOTP: an active account with its backup codes.
    func signUp(
        email: String = "user-\(UUID().uuidString.prefix(8).lowercased())@example.com",
        password: String = AuthDriver.password,
        ip: String = AuthDriver.randomIP(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestUser {
        let registered = try await self.register(email: email, password: password, ip: ip)
        try #require(registered.status == .created, "register: \(registered.status) \(registered.bodyString)", sourceLocation: sourceLocation)
        let body = try registered.json()
        let secret = SecretBytes(copying: try #require(Base32.decode(body["totp_secret"] as! String)))
        var user = TestUser(email: email, password: password, userID: body["user_id"] as! String, secret: secret, backupCodes: [], ip: ip)
        let confirmed = try await self.post(
            "/api/v1/auth/totp/confirm",
            ["enrollment_token": body["enrollment_token"] as! String, "code": self.code(user)],
            ip: ip
        )
        try #require(confirmed.status == .ok, "confirm: \(confirmed.status) \(confirmed.bodyString)", sourceLocation: sourceLocation)
        user.backupCodes = try confirmed.json()["backup_codes"] as! [String]
        return user
    }

    func mfaToken(_ user: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let response = try await self.post("/api/v1/auth/login", ["email": user.email, "password": user.password], ip: user.ip)
        try #require(response.status == .ok, "login: \(response.status) \(response.bodyString)", sourceLocation: sourceLocation)
        return try #require(response.json()["mfa_token"] as? String, sourceLocation: sourceLocation)
    }

    func signIn(_ user: TestUser, sourceLocation: SourceLocation = #_sourceLocation) async throws -> SignedIn {
        let mfa = try await self.mfaToken(user, sourceLocation: sourceLocation)
        let response = try await self.post("/api/v1/auth/login/totp", ["mfa_token": mfa, "code": self.code(user)], ip: user.ip)
        try #require(response.status == .ok, "login/totp: \(response.status) \(response.bodyString)", sourceLocation: sourceLocation)
        let setCookie = try #require(response.headers[.setCookie], sourceLocation: sourceLocation)
        return SignedIn(
            accessToken: try #require(response.json()["access_token"] as? String, sourceLocation: sourceLocation),
            refreshToken: try #require(Self.cookieValue(setCookie), sourceLocation: sourceLocation),
            setCookie: setCookie
        )
    }

    static func cookieValue(_ setCookie: String) -> String? {
        let first = setCookie.split(separator: ";").first ?? ""
        let parts = first.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, parts[0] == AuthController.refreshCookie else { return nil }
        return String(parts[1])
    }

    /// Every complete mail in the outbox addressed to `email`, oldest first (files are named `<time>-<id>.eml`;
    /// hidden files are mails still being written, renamed into place when complete).
    static func allMail(to email: String, in dataDirectory: URL) -> [String] {
        let outbox = dataDirectory.appendingPathComponent("outbox")
        let files = (try? FileManager.default.contentsOfDirectory(at: outbox, includingPropertiesForKeys: nil)) ?? []
        return files.filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            .compactMap { try? String(contentsOf: $0, encoding: .utf8) }.filter { $0.contains("To: \(email)\r\n") }
    }

    /// The newest mail to `email` that contains `text` — selected by what it says, since other mails (sign-in
    /// notices, security alerts) may arrive around it.
    static func latestMail(to email: String, containing text: String, in dataDirectory: URL) -> String? {
        Self.allMail(to: email, in: dataDirectory).last { $0.contains(text) }
    }

    /// `latestMail`, waiting for it up to a minute: some mails are written by a background queue after the answer.
    static func awaitMail(to email: String, containing text: String, in dataDirectory: URL) async throws -> String? {
        for _ in 0..<600 {
            if let mail = Self.latestMail(to: email, containing: text, in: dataDirectory) { return mail }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// A query parameter or `name: value` token in a mail.
    static func token(in mail: String, after marker: String) -> String? {
        guard let range = mail.range(of: marker) else { return nil }
        return String(mail[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }
}

extension TestResponse {
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: self.body)) as? [String: Any])
    }

    var errorCode: String? { (try? self.decoded(ErrorBody.self))?.error }
}
