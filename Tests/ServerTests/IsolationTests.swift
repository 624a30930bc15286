// SPEC §9 by the router's own inventory: every registered route is declared public, authenticated or admin, and
// documented; user B, holding every one of user A's ids, reaches none of A's records through any route or method.

import AuditLog
import Foundation
import Guard
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing
import Vault
import Venues

@testable import Server

@Suite struct IsolationTests {
    /// A registered route: its method and its path with the router's `:parameter` spelling.
    struct Route: Sendable {
        let method: HTTPRequest.Method
        let template: String

        /// `METHOD /path` as `RouteInventory` spells it.
        var key: String { "\(self.method.rawValue) \(self.template)" }
        var parameters: [String] { self.template.split(separator: "/").filter { $0.hasPrefix(":") }.map { String($0.dropFirst()) } }

        /// The path with every parameter filled (`fill` by name, else a random UUID).
        func concrete(_ fill: [String: String] = [:]) -> String {
            "/"
                + self.template.split(separator: "/").map { segment in
                    guard segment.hasPrefix(":") else { return String(segment) }
                    return fill[String(segment.dropFirst())] ?? UUID().uuidString.lowercased()
                }.joined(separator: "/")
        }
    }

    static func routes(of router: Router<AppRequestContext>) -> [Route] {
        // RouterPath describes a parameter as `{name}`; the inventory uses the registration spelling, `:name`.
        router.routes.map { route in
            let segments = route.path.description.split(separator: "/").map { segment in
                segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
            }
            return Route(method: route.method, template: "/" + segments.joined(separator: "/"))
        }
    }

    /// Everything wrong with the application's routes: undeclared public routes, admin routes open to users, stale
    /// declarations, undocumented operations. Empty when the inventory holds.
    static func inventoryProblems(extraRoutes: @escaping (Router<AppRequestContext>) -> Void = { _ in }) async throws -> [String] {
        let app = try AuthDriver.application()
        let parts = try await app.build(extraRoutes: extraRoutes)
        defer { app.directory.remove() }
        let routes = Self.routes(of: parts.router)
        let keys = Set(routes.map(\.key))
        var problems: [String] = []
        for stale in RouteInventory.publicRoutes.union(RouteInventory.adminRoutes).union(RouteInventory.anonymousPages).subtracting(keys).sorted() {
            problems.append("\(stale): declared but not registered")
        }
        problems += try await parts.application.test(.router) { client in
            var problems: [String] = []
            let driver = AuthDriver(client: client, clock: app.clock)
            let user = try await driver.signUp()
            let token = try await driver.signIn(user).accessToken
            let documented = PublishedDocumentsTests.operations(inOpenAPI: try await client.execute(uri: "/openapi.yaml", method: .get).bodyString)
            for route in routes {
                let key = route.key
                let braces = Dictionary(uniqueKeysWithValues: route.parameters.map { ($0, "{\($0)}") })
                // A catch-all (`**`, the log's tile paths) is one `{path}` parameter in the document.
                let openAPIKey = "\(route.method.rawValue.lowercased()) " + route.concrete(braces).replacingOccurrences(of: "/**", with: "/{path}")
                let path = route.concrete()
                if RouteInventory.isDashboard(key) {
                    // Pages are HTML, not API: anonymous callers are sent to sign in (GET /live, JSON, answers 401).
                    guard RouteInventory.access(key) == .page else { continue }
                    let anonymous = try await driver.request(route.method, path, ip: "10.60.0.2")
                    let toLogin = anonymous.status == .seeOther && anonymous.headers[.location] == "/login"
                    if !toLogin && anonymous.status != .unauthorized {
                        problems.append("\(key): answers \(anonymous.status.code) to an anonymous caller but is not declared an anonymous page")
                    }
                    continue
                }
                if !documented.contains(openAPIKey) { problems.append("\(key): not in the OpenAPI document") }
                switch RouteInventory.access(key) {
                case .public:
                    continue
                case .page:
                    continue
                case .authenticated, .admin:
                    let anonymous = try await driver.request(route.method, path, json: [:], ip: "10.60.0.1")
                    if anonymous.status != .unauthorized {
                        problems.append("\(key): answers \(anonymous.status.code) to an anonymous caller but is not declared public")
                    }
                }
                if RouteInventory.access(key) == .admin {
                    let asUser = try await driver.request(route.method, path, json: [:], ip: user.ip, token: token)
                    if asUser.status != .forbidden { problems.append("\(key): answers \(asUser.status.code) to a user who is not an admin") }
                }
            }
            return problems
        }
        await parts.database.shutdown()
        await app.dropSchema()
        return problems
    }

    @Test("Route inventory: every route on the real router is declared public, authenticated or admin, and documented")
    func inventoryHolds() async throws {
        let problems = try await Self.inventoryProblems()
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test("Route inventory: an unclassified route (registered outside the authenticated groups, undocumented) fails it")
    func inventoryCatchesUnclassifiedRoute() async throws {
        let problems = try await Self.inventoryProblems { router in
            router.get("/api/v1/dummy-unclassified") { _, _ in "nobody declared me" }
        }
        #expect(problems.contains { $0.hasPrefix("GET /api/v1/dummy-unclassified: answers 200 to an anonymous caller") })
        #expect(problems.contains("GET /api/v1/dummy-unclassified: not in the OpenAPI document"))
    }

    @Test("By construction: handlers never touch a store; the service layer looks up bots and keys by id alone only where no user is signed in")
    func ownedLookupsAreScoped() throws {
        let root = TestEnvironment.repositoryRoot
        let files = FileManager.default.enumerator(at: root.appendingPathComponent("Sources"), includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        // An unscoped lookup: a bot, bots or a key by id with no owner argument.
        let unscoped = try NSRegularExpression(
            pattern: #"\.(bot\(id: [^,()]*(\([^()]*\))?[^,()]*\)|bots\(ids:|credential\(id: [^,()]*\)|keys\(id: [^,()]*\))"#
        )
        // The only places allowed one, each for a reason no owner exists: the public signal webhook (the secret is
        // the credential) and the administrators' halt (every running bot of every user).
        let allowed = ["Bots/Service/BotService.swift": 2]
        var found: [String: [String]] = [:]
        for file in files {
            let relative = String(file.path.dropFirst(root.appendingPathComponent("Sources").path.count + 1))
            let isHandlerOrService =
                relative.hasPrefix("Server/") || relative.hasPrefix("Bots/Service/") || relative.hasPrefix("Venues/Keys/CredentialService")
            guard isHandlerOrService else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            if relative.hasSuffix("Controller.swift") {
                #expect(!text.contains("Store"), "\(relative): a handler reaches a store directly; go through a service that takes the identity")
            }
            for line in text.split(separator: "\n") where !line.contains("func ") {
                let range = NSRange(line.startIndex..., in: line)
                if unscoped.firstMatch(in: String(line), range: range) != nil {
                    found[relative, default: []].append(line.trimmingCharacters(in: .whitespaces))
                }
            }
        }
        #expect(found.mapValues(\.count) == allowed, "unscoped lookups: \(found)")
    }

    @Test(
        "Cross-user: B, holding each of A's ids, gets 404 (403 on admin routes) on every id-bearing route with every method; A's records are unchanged"
    )
    func crossUser() async throws {
        let app = try AuthDriver.application(BotTests.settings)
        let clock = app.clock
        try await app.run { client, inside in
            let driver = AuthDriver(client: client, clock: clock)
            let alice = try await driver.signUp()
            let aliceToken = try await driver.signIn(alice).accessToken
            let bob = try await driver.signUp()
            let bobToken = try await driver.signIn(bob).accessToken
            let a = BotTests.Session(driver: driver, user: alice, token: aliceToken)

            // One of everything Alice can own: a bot of each strategy (one traded, then stopped), a key, a session.
            var botIDs: [String] = []
            let bodies: [[String: Any]] = [
                [
                    "name": "g", "strategy": "grid", "venue": "paper", "symbol": "BTCUSDT",
                    "params": ["range_pct": 5, "levels": 5, "quantity": 0.001],
                ],
                [
                    "name": "d", "strategy": "dca", "venue": "paper", "symbol": "ETHUSDT",
                    "params": ["quote_amount": 20, "interval_seconds": 3600, "take_profit_pct": 2],
                ],
                ["name": "s", "strategy": "signal", "venue": "paper", "symbol": "SOLUSDT", "params": ["quantity": 1]],
            ]
            for body in bodies {
                let created = try await a.post("/api/v1/bots", body)
                try #require(created.status == .created, "\(created.bodyString)")
                botIDs.append(try #require(try created.json()["id"] as? String))
            }
            #expect(try await a.post("/api/v1/bots/\(botIDs[0])/start").status == .ok)
            #expect(try await a.eventually { try await a.array("/api/v1/orders?status=open").count >= 1 })
            #expect(try await a.post("/api/v1/bots/\(botIDs[0])/stop").status == .ok)
            let aliceID = try #require(UUID(uuidString: alice.userID))
            let credential = CredentialRecord(
                id: UUID(),
                userID: aliceID,
                venue: .binance,
                label: "alice's key",
                keyHint: "…abcd",
                permissions: ["spot_trade"],
                ipRestricted: true,
                warnings: [],
                createdAt: Date(),
                rotatedAt: nil
            )
            try await inside.credentialStore.create(
                credential,
                keys: VenueCredentials(apiKey: "alice-key", secret: SecretBytes(copying: Array("alice-secret".utf8))),
                audit: AuditEvent(.credentialAdded, user: aliceID, client: ClientInfo(ip: nil, userAgent: nil), at: Date())
            )
            let sessions = try await a.array("/api/v1/auth/sessions")
            let sessionID = try #require(sessions.first?["id"] as? String)
            let alert = try #require(
                try await inside.alerts.store.raise(
                    Anomaly(kind: .totpReplay, userID: aliceID, subject: alice.userID, message: "replayed", details: [:], time: clock.now),
                    recipients: [],
                    dedupWindow: 1_800,
                    now: clock.now
                )
            )

            func snapshot() async throws -> [String] {
                var views: [String] = []
                for path in ["/api/v1/bots", "/api/v1/orders", "/api/v1/credentials", "/api/v1/auth/sessions", "/api/v1/alerts"] {
                    let response = try await a.get(path)
                    #expect(response.status == .ok, "\(path) for Alice: \(response.status)")
                    // Alice's own reads move her session's last_seen_at: everything else must be as it was.
                    var body = response.bodyString
                    if path.hasSuffix("/sessions") {
                        body = body.replacingOccurrences(of: #""last_seen_at":"[^"]*""#, with: "", options: .regularExpression)
                    }
                    views.append(path + " " + body)
                }
                let audit = try await DatabaseAuditSink(database: inside.database, logger: app.logs.logger()).events(userID: aliceID)
                views.append("audit \(audit.count)")
                return views
            }
            let before = try await snapshot()

            let ids: [String: [String]] = [
                "/api/v1/bots/:id": botIDs, "/api/v1/credentials/:id": [credential.id.uuidString.lowercased()],
                "/api/v1/auth/sessions/:id": [sessionID], "/api/v1/admin/users/:id": [alice.userID],
                "/api/v1/alerts/:id": [alert.id.uuidString.lowercased()],
            ]
            let routes = try await Self.routesWithParameters(app)
            let registeredKeys = Set(try await Self.allRoutes(app).map(\.key))
            var covered = Set<String>()
            var wrong: [String] = []
            var pageRoutes: [Route] = []
            for route in routes {
                let template = route.template
                guard RouteInventory.access(route.key) != .public else { continue }
                if RouteInventory.access(route.key) == .page {
                    pageRoutes.append(route)
                    continue
                }
                guard let prefix = ids.keys.first(where: { template.hasPrefix($0) }) else {
                    // /markets/{venue}/{symbol}: market data, nothing of anyone's.
                    #expect(template.hasPrefix("/api/v1/markets"), "an id-bearing route nobody owns: \(template)")
                    continue
                }
                covered.insert(template)
                for id in ids[prefix]! {
                    let path = route.concrete(["id": id])
                    for method in [HTTPRequest.Method.get, .post, .patch, .delete] {
                        let registered = registeredKeys.contains("\(method.rawValue) \(template)")
                        // Bob's own valid code where the route asks for one (each code spends a 30 s step, so only
                        // there): a step-up route must refuse for ownership, not for the code.
                        let stepUp =
                            registered
                            && (template.hasSuffix("/webhook-secret") || template.hasSuffix("/rotate")
                                || (method == .delete && template.hasPrefix("/api/v1/credentials")))
                        var headers = HTTPFields()
                        let code = stepUp ? driver.code(bob) : nil
                        if let code { headers[.xTOTPCode] = code }
                        let body: [String: Any]? =
                            switch (method, template) {
                            case (.patch, _): ["params": ["range_pct": 5, "levels": 5, "quantity": 0.001]]
                            case (.post, let t) where t.hasSuffix("/rotate"): ["api_key": "k", "api_secret": "s", "totp_code": code ?? ""]
                            default: nil
                            }
                        let response = try await driver.request(method, path, json: body, ip: bob.ip, token: bobToken, headers: headers)
                        // Admin routes refuse a user (403) before anything else; a method a path does not have is 404.
                        let expected: HTTPResponse.Status = registered && prefix.hasPrefix("/api/v1/admin") ? .forbidden : .notFound
                        if response.status != expected {
                            wrong.append("\(method) \(path): \(response.status.code) \(response.bodyString)")
                        }
                    }
                }
            }
            // The dashboard's pages, with Bob's own page session and valid form tokens: 404 for each of Alice's ids.
            let pages = PageDriver(client: client, configuration: app.prepared.configuration, ip: bob.ip)
            let login = try await pages.get("/login")
            let step = try await pages.post("/login", ["email": bob.email, "password": bob.password], csrf: PageDriver.csrf(login.bodyString))
            let mfa = try #require(PageDriver.field("mfa_token", in: step.bodyString))
            _ = try await pages.post("/login/code", ["mfa_token": mfa, "code": driver.code(bob)], csrf: PageDriver.csrf(step.bodyString))
            try #require(pages.hasSession)
            let bobForm = try #require(PageDriver.csrf(try await pages.get("/").bodyString))
            let pageIDs: [String: [String]] = [
                "/bots/:id": botIDs, "/keys/:id": [credential.id.uuidString.lowercased()], "/security/sessions/:id": [sessionID],
                "/alerts/:id": [alert.id.uuidString.lowercased()],
            ]
            for route in pageRoutes {
                guard let prefix = pageIDs.keys.first(where: { route.template.hasPrefix($0) }) else {
                    Issue.record("a page route with an id nobody owns: \(route.template)")
                    continue
                }
                covered.insert(route.template)
                for id in pageIDs[prefix]! {
                    let path = route.concrete(["id": id])
                    let response =
                        route.method == .get
                        ? try await pages.get(path)
                        : try await pages.post(path, ["totp_code": "000000", "range_pct": "3", "levels": "5", "quantity": "0.001"], csrf: bobForm)
                    if response.status != .notFound { wrong.append("page \(route.method) \(path): \(response.status.code)") }
                }
            }
            #expect(wrong.isEmpty, "\(wrong)")
            // Every id-bearing route the inventory knows was tried.
            #expect(
                covered.isSuperset(of: ["/api/v1/bots/:id", "/api/v1/bots/:id/start", "/api/v1/bots/:id/kill", "/api/v1/credentials/:id/rotate"])
            )
            #expect(covered.count >= 11, "\(covered.sorted())")
            let after = try await snapshot()
            for (old, new) in zip(before, after) where old != new { Issue.record("changed:\n\(old)\n\(new)") }
            // And Alice's session still works (Bob revoked nothing, locked nothing).
            #expect(try await a.get("/api/v1/bots").status == .ok)
        }
    }

    static func routesWithParameters(_ app: TestApplication) async throws -> [Route] {
        try await Self.allRoutes(app).filter { !$0.parameters.isEmpty }
    }

    static func allRoutes(_ app: TestApplication) async throws -> [Route] {
        let parts = try await app.build()
        await parts.database.shutdown()
        return Self.routes(of: parts.router)
    }
}
