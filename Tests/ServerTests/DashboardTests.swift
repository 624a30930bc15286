// The web dashboard through HTTP on the real application: the flows a person uses, strict pages, and the CSRF
// and Origin checks (a refused form changes nothing).

import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Server

@Suite struct DashboardTests {
    /// What a page must never contain under the Content-Security-Policy: inline script, inline style, handlers.
    static func strictnessProblems(_ html: String) -> [String] {
        var problems: [String] = []
        if html.range(of: #"<script(?![^>]*\bsrc=)[^>]*>"#, options: .regularExpression) != nil { problems.append("inline <script>") }
        if html.range(of: "<style", options: .caseInsensitive) != nil { problems.append("<style>") }
        if html.range(of: #"\sstyle\s*="#, options: [.regularExpression, .caseInsensitive]) != nil { problems.append("style attribute") }
        if html.range(of: #"\son[a-z]+\s*="#, options: [.regularExpression, .caseInsensitive]) != nil { problems.append("on… handler") }
        if html.range(of: "javascript:", options: .caseInsensitive) != nil { problems.append("javascript: URL") }
        return problems
    }

    @Test("Every template in Resources/templates is loaded (a page whose template is missing would answer 500, never an empty page)")
    func everyTemplateLoaded() throws {
        let folder = TestEnvironment.repositoryRoot.appendingPathComponent("Sources/Server/Resources/templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".mustache") }
        #expect(Set(files.map { String($0.dropLast(".mustache".count)) }) == Set(Views.templateNames))
    }

    @Test(
        "Register → enrol (QR and secret) → confirm → backup codes → home, then a paper bot running with its orders on the pages; the kill switch leaves none"
    )
    func pageFlow() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        try await app.run { client, inside in
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            let (_, backup) = try await pages.signUp(email: "page@example.com", clock: app.clock)
            #expect(pages.hasSession)
            #expect(backup.components(separatedBy: "<li><code>").count - 1 == 10)
            #expect(backup.contains("download=\"tradekeep-backup-codes.txt\""))
            let home = try await pages.get("/")
            #expect(home.status == .ok && home.bodyString.contains("Your bots"))
            let newBot = try await pages.get("/bots/new")
            let form = newBot.bodyString
            let created = try await pages.post(
                "/bots",
                [
                    "name": try #require(PageDriver.field("name", in: form)), "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT",
                    "range_pct": "5", "levels": "5", "quantity": "0.001", "start": "true",
                ],
                csrf: PageDriver.csrf(form)
            )
            #expect(created.status == .seeOther)
            let location = try #require(created.headers[.location])
            #expect(location.hasPrefix("/bots/"))
            let user = try #require(try await inside.auth.store.user(email: "page@example.com"))
            // Orders resting at the venue, as the bot's own records say (what the pages show).
            var open = 0
            for _ in 0..<600 where open == 0 {
                open = try await inside.bots.orders(owner: user.id, openOnly: true).count
                if open == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(open > 0)
            #expect(try await inside.paperOpenOrders(user.id.uuidString.lowercased()).count > 0)
            let botPage = try await pages.get(location)
            #expect(botPage.status == .ok && botPage.bodyString.contains("data-order-id="))
            #expect(botPage.bodyString.contains("<svg") && botPage.bodyString.contains("aria-label=\"Price of BTCUSDT\""))
            let confirm = try await pages.get("/kill-switch")
            let killed = try await pages.post("/kill-switch", [:], csrf: PageDriver.csrf(confirm.bodyString))
            #expect(killed.status == .ok, "\(killed.bodyString)")
            #expect(killed.bodyString.contains("id=\"kill-result\""))
            #expect(try await inside.paperOpenOrders(user.id.uuidString.lowercased()).isEmpty)
            let after = try await pages.get("/")
            #expect(!after.bodyString.contains("data-order-id="))
        }
    }

    /// Inputs and selects (other than hidden ones) without a `<label for=…>` naming their id.
    static func unlabelled(_ html: String) -> [String] {
        let controls = try! NSRegularExpression(pattern: #"<(input|select)\b([^>]*)>"#)
        var missing: [String] = []
        for match in controls.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let attributes = String(html[Range(match.range(at: 2), in: html)!])
            if attributes.contains("type=\"hidden\"") { continue }
            guard let id = attributes.firstMatch(of: /id="([^"]+)"/)?.output.1 else {
                missing.append(attributes)
                continue
            }
            if !html.contains("for=\"\(id)\"") { missing.append(String(id)) }
        }
        return missing
    }

    @Test("No page has inline script, style or handlers; each answers with a CSP without unsafe-inline or unsafe-eval, and is not cached")
    func strictPages() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        try await app.run { client, inside in
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            var seen: [String: String] = [:]
            for path in ["/login", "/register", "/password/forgot", "/password/reset"] { seen[path] = try await pages.get(path).bodyString }
            let (_, backup) = try await pages.signUp(email: "strict@example.com", clock: app.clock)
            seen["backup codes"] = backup
            let new = try await pages.get("/bots/new")
            let created = try await pages.post(
                "/bots",
                ["name": "s", "strategy": "signal", "venue": "paper", "symbol": "BTCUSDT", "signal_quantity": "0.001"],
                csrf: PageDriver.csrf(new.bodyString)
            )
            #expect(created.status == .ok && created.bodyString.contains("id=\"webhook-secret\""), "signal bot page shows its secret once")
            seen["signal bot (created)"] = created.bodyString
            for path in ["/", "/bots/new", "/kill-switch", "/keys", "/audit", "/security", "/alerts"] {
                let response = try await pages.get(path)
                #expect(response.status == .ok, "\(path): \(response.status)")
                let policy = try #require(response.headers[.contentSecurityPolicy])
                #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
                #expect(response.headers[.cacheControl] == "no-store")
                seen[path] = response.bodyString
            }
            for (path, html) in seen {
                #expect(Self.strictnessProblems(html).isEmpty, "\(path): \(Self.strictnessProblems(html))")
                #expect(html.contains("<script src=\"/static/app."), "\(path) loads the script file")
                #expect(Self.unlabelled(html).isEmpty, "\(path): inputs without a label: \(Self.unlabelled(html))")
                #expect(html.contains("<html lang=\"en\">") && html.contains("href=\"#main\""), "\(path): language and skip link")
            }
            // The strictness check itself finds what it must.
            #expect(Self.strictnessProblems("<p style=\"x\"><script>1</script><a onclick=\"x\">").count == 3)
            // Static files: hashed names, immutable caching.
            let script = try #require(
                seen["/"]?.range(of: #"/static/app\.[0-9a-f]+\.js"#, options: .regularExpression).map { String(seen["/"]![$0]) }
            )
            let file = try await pages.get(script)
            #expect(file.status == .ok && file.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(try await pages.get("/static/app.js").status == .notFound)
            _ = inside
        }
    }

    @Test("A form post without the CSRF token, with a wrong one, with a foreign Origin or none is refused (403) and changes nothing")
    func csrfAndOrigin() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        try await app.run { client, inside in
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            _ = try await pages.signUp(email: "csrf@example.com", clock: app.clock)
            let user = try #require(try await inside.auth.store.user(email: "csrf@example.com"))
            let home = try await pages.get("/")
            let token = try #require(PageDriver.csrf(home.bodyString))
            let body = ["name": "x", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT", "range_pct": "5", "levels": "5", "quantity": "0.001"]
            let refused = [
                try await pages.post("/bots", body, csrf: nil),
                try await pages.post("/bots", body, csrf: "AAAA" + token.dropFirst(4)),
                try await pages.post("/bots", body, csrf: token, origin: "https://evil.example"),
                try await pages.post("/bots", body, csrf: token, origin: "null"),
                try await pages.post("/bots", body, csrf: token, origin: ""),
            ]
            for response in refused {
                #expect(response.status == .forbidden, "\(response.status) \(response.bodyString.prefix(200))")
                #expect(response.bodyString.contains("Nothing was changed."))
            }
            #expect(try await inside.bots.bots(owner: user.id).isEmpty)
            // Signing out needs the token too: a cross-site logout is refused and the session lives on.
            #expect(try await pages.post("/logout", [:], csrf: nil).status == .forbidden)
            #expect(try await pages.get("/").bodyString.contains("Your bots"))
            // A token of another session is not this session's.
            let other = PageDriver(client: client, configuration: app.prepared.configuration)
            _ = try await other.signUp(email: "csrf2@example.com", clock: app.clock)
            let otherToken = try #require(PageDriver.csrf(try await other.get("/").bodyString))
            #expect(try await pages.post("/bots", body, csrf: otherToken).status == .forbidden)
            #expect(try await inside.bots.bots(owner: user.id).isEmpty)
            // The right token from our origin works.
            #expect(try await pages.post("/bots", body, csrf: token).status == .seeOther)
            #expect(try await inside.bots.bots(owner: user.id).count == 1)
        }
    }

    @Test("Anonymous forms are bound to the form cookie: a registration without it, or with another browser's token, creates no account")
    func anonymousCSRF() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let first = PageDriver(client: client, configuration: app.prepared.configuration)
            let form = try await first.get("/register")
            let token = try #require(PageDriver.csrf(form.bodyString))
            let stranger = PageDriver(client: client, configuration: app.prepared.configuration)
            let withoutCookie = try await stranger.post("/register", ["email": "anon@example.com", "password": AuthDriver.password], csrf: token)
            #expect(withoutCookie.status == .forbidden)
            _ = try await stranger.get("/register")
            let foreignToken = try await stranger.post("/register", ["email": "anon@example.com", "password": AuthDriver.password], csrf: token)
            #expect(foreignToken.status == .forbidden)
            #expect(try await inside.auth.store.user(email: "anon@example.com") == nil)
            let crossSite = try await first.post(
                "/register",
                ["email": "anon@example.com", "password": AuthDriver.password],
                csrf: token,
                origin: "http://evil.example"
            )
            #expect(crossSite.status == .forbidden)
            #expect(try await inside.auth.store.user(email: "anon@example.com") == nil)
            let ok = try await first.post("/register", ["email": "anon@example.com", "password": AuthDriver.password], csrf: token)
            #expect(ok.status == .ok && ok.bodyString.contains("<svg"))
            #expect(try await inside.auth.store.user(email: "anon@example.com") != nil)
        }
    }

    @Test("Sign in through the pages with password then code; a wrong code keeps the form; logout ends the session at once")
    func loginAndLogout() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, inside in
            let api = AuthDriver(client: client, clock: app.clock)
            let user = try await api.signUp()
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            #expect(try await pages.get("/").headers[.location] == "/login")
            let login = try await pages.get("/login")
            let wrong = try await pages.post(
                "/login",
                ["email": user.email, "password": "not the password at all"],
                csrf: PageDriver.csrf(login.bodyString)
            )
            #expect(wrong.status == .unauthorized && wrong.bodyString.contains("class=\"error\""))
            let step = try await pages.post("/login", ["email": user.email, "password": user.password], csrf: PageDriver.csrf(login.bodyString))
            #expect(step.status == .ok)
            let mfa = try #require(PageDriver.field("mfa_token", in: step.bodyString))
            let badCode = try await pages.post("/login/code", ["mfa_token": mfa, "code": "000000"], csrf: PageDriver.csrf(step.bodyString))
            #expect(badCode.status == .unauthorized && badCode.bodyString.contains("name=\"mfa_token\""))
            let signedIn = try await pages.post("/login/code", ["mfa_token": mfa, "code": api.code(user)], csrf: PageDriver.csrf(step.bodyString))
            #expect(signedIn.status == .seeOther && pages.hasSession)
            let cookie = try #require(signedIn.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-tradekeep-session=") && cookie.contains("HttpOnly") && cookie.contains("Secure"))
            #expect(cookie.contains("SameSite=Strict") && cookie.contains("Path=/") && !cookie.contains("Domain"))
            let home = try await pages.get("/")
            #expect(home.status == .ok)
            let sessions = try await inside.auth.store.activeSessions(userID: UUID(uuidString: user.userID)!)
            #expect(sessions.count == 1)
            // A tampered cookie is nobody.
            let saved = pages.cookies[WebSessionKeys.sessionCookie]!
            let logout = try await pages.post("/logout", [:], csrf: PageDriver.csrf(home.bodyString))
            #expect(logout.status == .seeOther && !pages.hasSession)
            #expect(try await inside.auth.store.activeSessions(userID: UUID(uuidString: user.userID)!).isEmpty)
            // The old cookie, replayed after logout, no longer signs in.
            let replay = try await client.execute(uri: "/", method: .get, headers: [.cookie: "\(WebSessionKeys.sessionCookie)=\(saved)"], body: nil)
            #expect(replay.status == .seeOther && replay.headers[.location] == "/login")
        }
    }

    @Test("The session cookie's MAC is checked: another session's id, a flipped byte or a bare id signs nobody in")
    func cookieIntegrity() throws {
        let keys = WebSessionKeys(jwtKey: .init(copying: [UInt8](repeating: 7, count: 32)))
        let id = UUID()
        let value = keys.cookieValue(sessionID: id)
        #expect(keys.sessionID(cookie: value) == id)
        #expect(keys.sessionID(cookie: id.apiString) == nil)
        #expect(keys.sessionID(cookie: UUID().apiString + value.dropFirst(36)) == nil)
        var flipped = Array(value.utf8)
        flipped[flipped.count - 2] = flipped[flipped.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(keys.sessionID(cookie: String(decoding: flipped, as: UTF8.self)) == nil)
        let other = WebSessionKeys(jwtKey: .init(copying: [UInt8](repeating: 8, count: 32)))
        #expect(other.sessionID(cookie: value) == nil)
        #expect(keys.csrfToken(sessionID: id) != keys.cookieValue(sessionID: id).split(separator: ".").last.map(String.init))
        #expect(WebSessionKeys.matches(keys.csrfToken(sessionID: id), keys.csrfToken(sessionID: id)))
        #expect(!WebSessionKeys.matches(keys.csrfToken(sessionID: UUID()), keys.csrfToken(sessionID: id)))
        #expect(!WebSessionKeys.matches(nil, keys.csrfToken(sessionID: id)))
        #expect(FormBody.parse("a=1&a=2&b=x+y%21&c") == ["a": "1", "b": "x y!", "c": ""])
    }

    @Test("Page sign-in shares the API's per-address login limit, however the path is spelt")
    func pageLoginLimited() async throws {
        let app = try AuthDriver.application()
        try await app.run { client, _ in
            let pages = PageDriver(client: client, configuration: app.prepared.configuration)
            let login = try await pages.get("/login")
            let token = PageDriver.csrf(login.bodyString)
            var statuses: [HTTPResponse.Status] = []
            for path in ["/login", "//login", "/login/", "///login//", "/login", "/login", "/login"] {
                statuses.append(try await pages.post(path, ["email": "nobody@example.com", "password": "wrong password here"], csrf: token).status)
            }
            #expect(statuses.filter { $0 == .tooManyRequests }.count >= 2, "\(statuses)")
            #expect(statuses.allSatisfy { $0 == .unauthorized || $0 == .tooManyRequests }, "\(statuses)")
        }
    }
}
