// The real binary: start-up to healthy in under 3 s, clean shutdown on SIGTERM/SIGINT, exit 78 on refusal.

import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import Testing

@Suite(.serialized) struct ProcessTests {
    /// A running `tradekeep` process with its standard error collected.
    final class RunningProcess: Sendable {
        let process: Process
        private let output = NIOLockedValueBox("")

        var stderr: String { self.output.withLockedValue { $0 } }

        init(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
            let executable = try #require(TestEnvironment.executable, "the tradekeep executable is not built (swift build)")
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TRADEKEEP_") }
            env.merge(environment) { _, new in new }
            process.environment = env
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = pipe
            let output = self.output
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if !data.isEmpty { output.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
            }
            let stdin = Pipe()
            process.standardInput = stdin
            self.process = process
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
        }

        /// The port from the `listening` log line.
        func waitForPort(timeout: Duration = .seconds(10)) async throws -> Int {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let match = self.stderr.firstMatch(of: #/listening .*port=(\d+)/#) { return Int(match.output.1)! }
                if !self.process.isRunning {
                    try await Task.sleep(for: .milliseconds(300))  // let the pipe drain: the reason it exited
                    throw ProcessFailure(message: "exited (\(self.process.terminationStatus)) before listening; output:\n\(self.stderr)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw ProcessFailure(message: "no listening line; output:\n\(self.stderr)")
        }

        func waitForExit(timeout: Duration = .seconds(10)) async throws -> Int32 {
            let deadline = ContinuousClock.now + timeout
            while self.process.isRunning {
                guard ContinuousClock.now < deadline else {
                    self.process.terminate()
                    throw ProcessFailure(message: "did not exit; output:\n\(self.stderr)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(50))  // let the pipe drain
            return self.process.terminationStatus
        }
    }

    struct ProcessFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { self.message }
    }

    static let binaryAvailable = TestEnvironment.executable != nil

    @Test(
        "`tradekeep serve` answers /healthz within 3 s of start and stops cleanly on SIGTERM and SIGINT",
        .enabled(if: TestEnvironment.needs(binaryAvailable), "needs the built tradekeep executable"),
        arguments: [SIGTERM, SIGINT]
    )
    func startAndStop(signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let started = ContinuousClock.now
        let server = try RunningProcess(["serve", "--port", "0", "--data-dir", directory.appending("data").path])
        let port = try await server.waitForPort()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        var healthyAfter: Duration?
        while ContinuousClock.now - started < .seconds(10) {
            if let response = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(1)),
                response.status == .ok
            {
                healthyAfter = ContinuousClock.now - started
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await http.shutdown()
        let elapsed = try #require(healthyAfter, "never healthy: \(server.stderr)")
        #expect(elapsed < .seconds(3), "healthy after \(elapsed)")

        kill(server.process.processIdentifier, signal)
        let status = try await server.waitForExit()
        #expect(status == 0, "exit status \(status): \(server.stderr)")
        #expect(server.stderr.contains("stopped"))
        #expect(!server.stderr.contains(" error "), "\(server.stderr)")
    }

    @Test(
        "In production with nothing provisioned the binary exits 78 naming every setting to fix",
        .enabled(if: TestEnvironment.needs(binaryAvailable), "needs the built tradekeep executable")
    )
    func productionRefusalExitCode() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try RunningProcess(["serve", "--env", "production", "--port", "0", "--data-dir", directory.appending("data").path])
        let status = try await server.waitForExit()
        #expect(status == 78)
        for setting in ["TRADEKEEP_JWT_SECRET", "TRADEKEEP_AUDIT_SIGNING_KEY", "TRADEKEEP_BACKUP_KEY", "TRADEKEEP_LOCAL_KEK", "TRADEKEEP_TLS_CERT"] {
            #expect(server.stderr.contains(setting), "\(setting) not named: \(server.stderr)")
        }
    }

    @Test(
        "`tradekeep init` then production start-up behind a TLS proxy works; `migrate` and `version` run",
        .enabled(if: TestEnvironment.needs(binaryAvailable), "needs the built tradekeep executable")
    )
    func initMigrateVersion() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("data").path
        let initialize = try RunningProcess(["init", "--data-dir", data])
        #expect(try await initialize.waitForExit() == 0)
        #expect(initialize.stderr.contains("generated \(data)/jwt.key"))
        let again = try RunningProcess(["init", "--data-dir", data])
        #expect(try await again.waitForExit() == 0)
        #expect(again.stderr.contains("already present"))

        let migrate = try RunningProcess(["migrate", "--data-dir", data])
        #expect(try await migrate.waitForExit() == 0, "\(migrate.stderr)")
        #expect(migrate.stderr.contains("migrations applied"))

        let server = try RunningProcess(["serve", "--env", "production", "--behind-tls-proxy", "--port", "0", "--data-dir", data])
        _ = try await server.waitForPort()
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0, "\(server.stderr)")

        let version = try RunningProcess(["version"])
        #expect(try await version.waitForExit() == 0)
        #expect(version.stderr.hasPrefix("tradekeep "))
    }

    @Test(
        "`tradekeep admin create` reads the password from standard input and prints the otpauth URI once",
        .enabled(if: TestEnvironment.needs(binaryAvailable), "needs the built tradekeep executable")
    )
    func adminCreate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.appending("data").path
        let created = try RunningProcess(["admin", "create", "--email", "root@example.com", "--data-dir", data], input: "an admin passphrase here\n")
        #expect(try await created.waitForExit() == 0, "\(created.stderr)")
        #expect(created.stderr.contains("otpauth://totp/Tradekeep:root%40example.com?secret="))
        #expect(created.stderr.contains("enrollment_token"))
        let again = try RunningProcess(["admin", "create", "--email", "root@example.com", "--data-dir", data], input: "an admin passphrase here\n")
        #expect(try await again.waitForExit() == 65)
        #expect(again.stderr.contains("already exists"))
        let weak = try RunningProcess(["admin", "create", "--email", "other@example.com", "--data-dir", data], input: "short\n")
        #expect(try await weak.waitForExit() == 65)
        #expect(weak.stderr.contains("at least 12 characters"))
    }
}
