// A SoftHSM2 token for the pkcs11 tests: one per test process (Cryptoki reads its configuration once),
// initialised by the test with `softhsm2-util --init-token --free`.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

public enum SoftHSM {
    public static let modulePath = [
        "/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ].first { FileManager.default.fileExists(atPath: $0) }
    public static let token = "tradekeep-test"
    /// A second token nobody logs into, for the wrong-PIN test (a login is per application and token).
    public static let untouchedToken = "tradekeep-pin-test"
    public static let pin = "7531"

    public static var available: Bool { modulePath != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/softhsm2-util") }

    /// The token's configuration file (SOFTHSM2_CONF), created and initialised on first use.
    public static let configuration: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tradekeep-softhsm-\(getpid())")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tokens"), withIntermediateDirectories: true)
        let conf = directory.appendingPathComponent("softhsm2.conf")
        try "directories.tokendir = \(directory.appendingPathComponent("tokens").path)\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(to: conf, atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", conf.path, 1)
        for label in [token, untouchedToken] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
            process.arguments = ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "864209"]
            process.environment = ProcessInfo.processInfo.environment.merging(["SOFTHSM2_CONF": conf.path]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw SoftHSMFailure(message: "softhsm2-util --init-token --label \(label) failed") }
        }
        return conf.path
    }

    /// A TRADEKEEP_KEK value for a key object labelled `object` in the test token.
    public static func kekSetting(object: String) throws -> String {
        _ = try configuration.get()
        return "pkcs11:token=\(token);object=\(object)?module-path=\(modulePath ?? "")&pin-value=\(pin)"
    }

    public struct SoftHSMFailure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { self.message }
    }
}
