// Drives the dashboard like a browser without JavaScript: keeps its cookies, reads each form's CSRF token from the
// page, and sends forms with the Origin header a browser adds.

import Accounts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import Vault

@testable import Server

final class PageDriver: @unchecked Sendable {
    let client: any TestClientProtocol
    let origin: String
    let ip: String
    private(set) var cookies: [String: String] = [:]

    init(client: any TestClientProtocol, configuration: ServerConfiguration, ip: String = AuthDriver.randomIP()) {
        self.client = client
        self.origin = Server.origin(of: configuration.publicURL)
        self.ip = ip
    }

    var hasSession: Bool { self.cookies[WebSessionKeys.sessionCookie] != nil }

    func get(_ path: String) async throws -> TestResponse {
        try await self.send(.get, path, body: nil, headers: [:])
    }

    /// A form post with the Origin a browser sends; `csrf` nil leaves the token out.
    func post(_ path: String, _ fields: [String: String], csrf: String?, origin: String? = nil) async throws -> TestResponse {
        var all = fields
        if let csrf { all["csrf_token"] = csrf }
        let body = all.map { "\(Self.encode($0.key))=\(Self.encode($0.value))" }.joined(separator: "&")
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let origin = origin ?? Optional(self.origin), !origin.isEmpty { headers[.origin] = origin }
        return try await self.send(.post, path, body: body, headers: headers)
    }

    func send(_ method: HTTPRequest.Method, _ path: String, body: String?, headers extra: HTTPFields) async throws -> TestResponse {
        var headers = extra
        headers[.xForwardedFor] = self.ip
        headers[.userAgent] = "page-driver"
        if !self.cookies.isEmpty { headers[.cookie] = self.cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        let response = try await self.client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        for value in response.headers[values: .setCookie] {
            let pair = value.split(separator: ";").first ?? ""
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            if value.contains("Max-Age=0") { self.cookies[String(parts[0])] = nil } else { self.cookies[String(parts[0])] = String(parts[1]) }
        }
        return response
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The value of the first input named `name` in a page.
    static func field(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\"") else { return nil }
        let tag = html[range.upperBound...].prefix { $0 != ">" }
        guard let value = tag.range(of: "value=\"") else { return nil }
        return String(tag[value.upperBound...].prefix { $0 != "\"" })
    }

    static func csrf(_ html: String) -> String? { Self.field("csrf_token", in: html) }

    /// Sign up through the pages: register, enrol with a code computed from the page's secret, confirm. The
    /// session cookie is set; returns the TOTP secret and the backup codes page.
    func signUp(email: String, password: String = AuthDriver.password, clock: TestClock) async throws -> (secret: [UInt8], backupPage: String) {
        let form = try await self.get("/register")
        let registered = try await self.post("/register", ["email": email, "password": password], csrf: Self.csrf(form.bodyString))
        try #require(registered.status == .ok, "register page: \(registered.status) \(registered.bodyString)")
        let page = registered.bodyString
        let secretText = try #require(
            page.range(of: "id=\"totp-secret\" class=\"secret\">").map { String(page[$0.upperBound...].prefix { $0 != "<" }) }
        )
        let secret = try #require(Accounts.Base32.decode(secretText))
        let code = Accounts.TOTP.standard.code(secret: SecretBytes(copying: secret), at: clock.now)
        clock.advance(by: 30)
        let confirmed = try await self.post(
            "/register/confirm",
            ["enrollment_token": try #require(Self.field("enrollment_token", in: page)), "code": code],
            csrf: Self.csrf(page)
        )
        try #require(confirmed.status == .ok, "confirm page: \(confirmed.status) \(confirmed.bodyString)")
        return (secret, confirmed.bodyString)
    }
}
