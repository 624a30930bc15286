// The dashboard in a real browser (interop/browser_flow.py: headless Chromium driven by Selenium) against the real
// binary, on SQLite or, when TRADEKEEP_TEST_DATABASE_URL is set, on PostgreSQL.

import Foundation
import InteropSupport
import Testing

@Suite(.serialized) struct BrowserFlowTests {
    static let available =
        Tools.have("chromedriver", "zbarimg") && (Tools.have("chromium") || Tools.have("chromium-browser"))
        && Python.has("selenium", "pyotp") && TestEnvironment.executable != nil

    @Test(
        "A new user reaches a running paper bot in under 90 s: QR decoded by zbarimg, code from pyotp, orders live, kill switch empties them; no console error or CSP violation",
        .enabled(
            if: available || Python.requireAll,
            "needs chromium, chromium-driver, zbar-tools, python3 selenium and pyotp, and the built tradekeep executable"
        )
    )
    func browserFlow() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var environment = ["TRADEKEEP_BOT_INTERVAL": "1"]
        var schema: String?
        if let base = TestEnvironment.postgresURL {
            let name = "t_browser_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))"
            environment["TRADEKEEP_DATABASE_URL"] = base + (base.contains("?") ? "&" : "?") + "schema=\(name)"
            schema = name
        }
        let server = try ProcessTests.RunningProcess(
            ["serve", "--port", "0", "--data-dir", directory.appending("data").path],
            environment: environment
        )
        defer { server.process.terminate() }
        let port = try await server.waitForPort(timeout: .seconds(60))
        let shots =
            ProcessInfo.processInfo.environment["TRADEKEEP_SCREENSHOT_DIR"]
            ?? TestEnvironment.repositoryRoot.appendingPathComponent(".build/dashboard-screenshots").path
        let folder = shots + (schema == nil ? "/sqlite" : "/postgres")
        let script = Python.interopDirectory.appendingPathComponent("browser_flow.py").path
        let result = try Python.run([script, "http://127.0.0.1:\(port)", folder], input: Data())
        server.process.terminate()
        _ = try? await server.waitForExit()
        if let schema { await TestApplication.dropSchema(schema) }
        let line = String(decoding: result.output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let report = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        try #require(
            result.status == 0 && report["ok"] as? Bool == true,
            "browser flow failed: \(line)\n\(result.error)\nserver:\n\(server.stderr.suffix(4000))"
        )
        let seconds = try #require(report["seconds_to_running_bot"] as? Double)
        print(
            "browser flow (\(schema == nil ? "SQLite" : "PostgreSQL")): a running paper bot \(seconds) s after the first page load; screenshots in \(folder)"
        )
        #expect(seconds < 90)
        #expect((report["live_orders"] as? Int ?? 0) > 0)
        #expect(!server.stderr.contains("\"level\":\"error\"") && !server.stderr.contains(" error "), "server logged an error")
    }
}
