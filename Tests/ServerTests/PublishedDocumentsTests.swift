// /healthz, /readyz, /openapi.yaml and /.well-known/security.txt.

import Foundation
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import Server

@Suite struct PublishedDocumentsTests {
    @Test("/healthz answers {\"status\":\"ok\"} and /readyz checks the database")
    func probes() async throws {
        try await TestApplication().test { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(health.bodyString == #"{"status":"ok"}"#)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(ready.bodyString == #"{"status":"ready"}"#)
        }
    }

    @Test("/readyz answers 503 in the error shape when the database does not answer")
    func readinessFailure() async throws {
        let app = try TestApplication()
        let parts = try await app.build()
        // The database has never been migrated and is closed: the readiness query must fail.
        await parts.database.shutdown()
        let application = Application(router: parts.router, logger: app.logs.logger())
        try await application.test(.router) { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(try response.decoded(ErrorBody.self).error == "not_ready")
        }
        app.directory.remove()
    }

    @Test("security.txt has the configured Contact, an Expires under a year ahead, and a Canonical URL")
    func securityTxt() async throws {
        let app = try TestApplication([
            Setting.securityContact.name: "mailto:security@trade.example",
            Setting.publicURL.name: "https://trade.example",
        ])
        try await app.test { client in
            let response = try await client.execute(uri: "/.well-known/security.txt", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
            let fields = Dictionary(
                uniqueKeysWithValues: response.bodyString.split(separator: "\n").compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
            )
            #expect(fields["Contact"] == "mailto:security@trade.example")
            #expect(fields["Canonical"] == "https://trade.example/.well-known/security.txt")
            let expires = try #require(fields["Expires"].flatMap { try? Date($0, strategy: .iso8601) })
            #expect(expires > Date().addingTimeInterval(30 * 86400))
            #expect(expires < Date().addingTimeInterval(365 * 86400))
        }
    }

    @Test("/openapi.yaml is served and documents every route the router has, and nothing more")
    func openAPIMatchesRouter() async throws {
        let app = try TestApplication()
        let parts = try await app.build()
        await parts.database.shutdown()
        // Dashboard pages are HTML (docs/USER-GUIDE.md); the document describes the API.
        let routes = Set(
            parts.router.routes.filter { !RouteInventory.isDashboard("\($0.method.rawValue) /\($0.path.description.drop { $0 == "/" })") }.map {
                route in
                // A catch-all (`**`, the audit log's tile paths) is documented as one `{path}` parameter.
                let path = route.path.description.split(separator: "/").map {
                    $0.hasPrefix(":") ? "{\($0.dropFirst())}" : $0 == "**" ? "{path}" : String($0)
                }
                return "\(route.method.rawValue.lowercased()) /\(path.joined(separator: "/"))"
            }
        )
        try await app.test { client in
            let response = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/yaml; charset=utf-8")
            let documented = Self.operations(inOpenAPI: response.bodyString)
            #expect(response.bodyString.hasPrefix("openapi: 3.1.0"))
            #expect(documented == routes, "undocumented: \(routes.subtracting(documented)); stale: \(documented.subtracting(routes))")
        }
    }

    /// `method /path` for every operation under `paths:` (two-space path keys, four-space method keys).
    static func operations(inOpenAPI text: String) -> Set<String> {
        var result = Set<String>()
        var inPaths = false
        var currentPath: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty {
                inPaths = line.hasPrefix("paths:")
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   ") {
                currentPath = line.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "").dropLastColon()
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let key = line.trimmingCharacters(in: .whitespaces).dropLastColon()
                if methods.contains(key) { result.insert("\(key) \(path)") }
            }
        }
        return result
    }
}

extension String {
    fileprivate func dropLastColon() -> String { self.hasSuffix(":") ? String(self.dropLast()) : self }
}
