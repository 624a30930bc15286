// The dashboard's sessions: the API's server-side sessions, carried by a `__Host-` cookie instead of a bearer token,
// and the CSRF defences every page form has (a synchronizer token bound to the session, and the Origin check).
//
// The cookie holds the session id and an HMAC of it under a key derived from the server's JWT key; the session row
// decides the rest (revoked, expired, user locked), exactly as for an access token, so logout, revocation and
// password changes end a page session at once. Forms carry a token derived from the session with a second key
// (anonymous forms: from a random pre-session cookie), compared in constant time.

import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Vault

struct WebSessionKeys: Sendable {
    static let sessionCookie = "__Host-tradekeep-session"
    /// Anonymous forms (sign in, register, reset) bind their CSRF token to this random cookie.
    static let formCookie = "__Host-tradekeep-form"
    static let sessionLifetime: TimeInterval = AuthService.refreshLifetime

    private let cookieKey: SymmetricKey
    private let csrfKey: SymmetricKey

    init(jwtKey: SecretBytes) {
        let material = jwtKey.withUnsafeBytes { SymmetricKey(data: $0) }
        self.cookieKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data("tradekeep web session cookie v1".utf8), outputByteCount: 32)
        self.csrfKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data("tradekeep web csrf v1".utf8), outputByteCount: 32)
    }

    // MARK: Session cookie

    /// `<session id>.<base64url HMAC>`.
    func cookieValue(sessionID: UUID) -> String {
        let id = sessionID.apiString
        return id + "." + Self.base64URL(HMAC<SHA256>.authenticationCode(for: Data(id.utf8), using: self.cookieKey))
    }

    /// The session a cookie names, when its MAC is right (nothing else is checked here).
    func sessionID(cookie value: String) -> UUID? {
        let parts = value.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 36, let id = UUID(uuidString: String(parts[0])),
            let mac = Self.base64URLDecode(String(parts[1]))
        else { return nil }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: self.cookieKey) ? id : nil
    }

    // MARK: CSRF

    /// The token a signed-in page's forms carry.
    func csrfToken(sessionID: UUID) -> String {
        Self.base64URL(HMAC<SHA256>.authenticationCode(for: Data(("session:" + sessionID.apiString).utf8), using: self.csrfKey))
    }

    /// The token an anonymous form carries, bound to its pre-session cookie.
    func csrfToken(formCookie: String) -> String {
        Self.base64URL(HMAC<SHA256>.authenticationCode(for: Data(("form:" + formCookie).utf8), using: self.csrfKey))
    }

    /// Constant-time comparison of a submitted token with the expected one.
    static func matches(_ submitted: String?, _ expected: String) -> Bool {
        guard let submitted, let a = Self.base64URLDecode(submitted), let b = Self.base64URLDecode(expected), a.count == b.count else {
            return false
        }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    // MARK: Cookies

    /// `__Host-` cookies: Secure, Path=/, no Domain; HttpOnly and SameSite=Strict. Browsers accept Secure cookies
    /// from http://localhost and http://127.0.0.1 (secure contexts), so embedded mode works without TLS.
    static func setCookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Strict"
    }

    static func clearCookie(_ name: String) -> String {
        "\(name)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    }

    /// The value of cookie `name` in the request's Cookie headers.
    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name { return String(trimmed[trimmed.index(after: equals)...]) }
            }
        }
        return nil
    }

    // MARK: Origin

    /// A state-changing request from a page must come from this server's own origin: the public URL's, or the one
    /// the browser used to reach us (scheme as served, Host as sent). A missing Origin is refused: every browser
    /// sends one on POST.
    static func isSameOrigin(_ headers: HTTPFields, publicOrigin: String, servesHTTPS: Bool, host: String?) -> Bool {
        guard let origin = headers[.origin], origin != "null" else { return false }
        if origin == publicOrigin { return true }
        guard let host, !host.isEmpty else { return false }
        return origin == (servesHTTPS ? "https://" : "http://") + host
    }

    // MARK: Encoding

    static func base64URL<D: ContiguousBytes>(_ bytes: D) -> String {
        bytes.withUnsafeBytes { Data($0) }.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
