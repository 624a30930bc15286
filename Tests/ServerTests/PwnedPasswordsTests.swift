// TRADEKEEP_HIBP=on: registration consults a (local, fake) Pwned Passwords range API.

import Accounts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

@testable import Server

@Suite struct PwnedPasswordsTests {
    static let breached = "totally unique yet breached"
    static let clean = "totally unique and clean too"

    /// A range API that knows one breached password, pads every answer, and records what it was sent.
    static func fakeRangeAPI(requests: NIOLockedValueBox<[(path: String, padding: String?)]>, delay: Duration = .zero) -> Router<BasicRequestContext>
    {
        let router = Router()
        router.get("/range/:prefix") { request, context -> String in
            requests.withLockedValue { $0.append((request.uri.path, request.headers[HTTPField.Name("Add-Padding")!])) }
            if delay > .zero { try await Task.sleep(for: delay) }
            let prefix = context.parameters.get("prefix") ?? ""
            var lines = (0..<20).map { index in String(format: "%035X:0", index) }
            let (breachedPrefix, breachedSuffix) = PwnedPasswords.split(Self.breached)
            if prefix == breachedPrefix { lines.append("\(breachedSuffix):1234") }
            // The clean password's suffix appears only as a padding row, which must not count.
            let (cleanPrefix, cleanSuffix) = PwnedPasswords.split(Self.clean)
            if prefix == cleanPrefix { lines.append("\(cleanSuffix):0") }
            return lines.shuffled().joined(separator: "\r\n")
        }
        return router
    }

    @Test("A breached password is refused (422 breached_password); only the 5-hex prefix leaves, with Add-Padding")
    func breachedRefused() async throws {
        let requests = NIOLockedValueBox<[(path: String, padding: String?)]>([])
        let fake = Application(router: Self.fakeRangeAPI(requests: requests), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await fake.test(.live) { fakeClient in
            let port = try #require(fakeClient.port)
            let app = try AuthDriver.application([Setting.hibp.name: "on", Setting.hibpURL.name: "http://127.0.0.1:\(port)"])
            try await app.test { client in
                let driver = AuthDriver(client: client, clock: app.clock)
                let refused = try await driver.register(email: "p1@example.com", password: Self.breached, ip: "10.8.0.1")
                #expect(refused.status == .unprocessableContent)
                #expect(refused.errorCode == "breached_password")
                let accepted = try await driver.register(email: "p2@example.com", password: Self.clean, ip: "10.8.0.2")
                #expect(accepted.status == .created)
            }
            let sent = requests.withLockedValue { $0 }
            #expect(sent.count == 2)
            let fullHash = Insecure.SHA1.hash(data: Array(Self.breached.utf8)).map { String(format: "%02X", $0) }.joined()
            for request in sent {
                #expect(request.path.count == "/range/".count + 5)
                #expect(request.padding == "true")
                #expect(!request.path.contains(fullHash.dropFirst(5)))
            }
        }
    }

    @Test("A range API slower than the timeout does not block registration: it proceeds, with a warning logged")
    func timeoutFailsOpen() async throws {
        let requests = NIOLockedValueBox<[(path: String, padding: String?)]>([])
        let fake = Application(
            router: Self.fakeRangeAPI(requests: requests, delay: .seconds(30)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await fake.test(.live) { fakeClient in
            let port = try #require(fakeClient.port)
            var app = try AuthDriver.application([Setting.hibp.name: "on", Setting.hibpURL.name: "http://127.0.0.1:\(port)"])
            app.prepared.configuration.hibpTimeout = .milliseconds(300)
            let logs = app.logs
            let clock = app.clock
            try await app.test { client in
                let start = ContinuousClock.now
                let response = try await AuthDriver(client: client, clock: clock).register(
                    email: "slow@example.com",
                    password: Self.breached,
                    ip: "10.8.0.3"
                )
                #expect(response.status == .created)
                // Well below the range API's 30 s: the 300 ms timeout let registration go on (a loaded machine has
                // taken 9 s for the rest of registration, so the bound is generous).
                #expect(ContinuousClock.now - start < .seconds(20))
            }
            #expect(logs.lines.contains { $0.contains("warning") && $0.contains("breached-password check unavailable") })
        }
    }
}
