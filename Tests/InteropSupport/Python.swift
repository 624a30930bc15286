// Runs the interop scripts in interop/ (independent Python implementations) for the test targets.

import Foundation

public enum Python {
    public static let requireAll = ProcessInfo.processInfo.environment["TRADEKEEP_REQUIRE_ALL"] == "1"
    public static let interopDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("interop")

    /// Whether `python3` can import every module named.
    public static func has(_ modules: String...) -> Bool {
        (try? run(["-c", "import " + modules.joined(separator: ", ")], input: Data()).status) == 0
    }

    public static let interopAvailable = has("pyotp", "bcrypt", "jwt", "cryptography", "botocore")

    public static func run(_ arguments: [String], input: Data) throws -> (status: Int32, output: Data, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, error)
    }

    /// Run `interop/<script>` with a JSON request; its JSON answer.
    public static func interop(_ script: String, _ request: [String: Any]) throws -> [String: Any] {
        let result = try run([interopDirectory.appendingPathComponent(script).path], input: try JSONSerialization.data(withJSONObject: request))
        guard result.status == 0 else { throw InteropFailure(message: "\(script) failed: \(result.error)") }
        return try JSONSerialization.jsonObject(with: result.output) as! [String: Any]
    }

    public struct InteropFailure: Error, CustomStringConvertible {
        let message: String
        public init(message: String) { self.message = message }
        public var description: String { self.message }
    }
}
