// The redacting log handler: sensitive keys, bearer tokens and JWTs never reach output; one line per event.

import Foundation
import Logging
import Testing

@testable import Server

@Suite struct LogRedactionTests {
    static let jwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    static let unsignedJWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
    static let secretValue = "s3cr3t-VALUE-that-must-not-leak"

    @Test(
        "Every sensitive key is redacted, whatever its spelling",
        arguments: [
            "api_key", "apiKey", "X-API-Key", "api-key", "exchange.api_key",
            "secret", "api_secret", "client_secret", "webhook_secret",
            "token", "access_token", "refresh_token", "mfa_token", "enrollment_token",
            "private_key", "privateKey", "wallet.private-key",
            "password", "new_password", "current_password",
            "authorization", "Authorization", "http.authorization",
        ]
    )
    func sensitiveKeys(key: String) {
        let capture = LogCapture()
        capture.logger().info("event", metadata: [key: .string(Self.secretValue), "user": "alice"])
        let line = capture.text
        #expect(!line.contains(Self.secretValue), "\(key) leaked: \(line)")
        #expect(line.contains(LogRedaction.replacement))
        #expect(line.contains("user=alice"))
    }

    @Test("Sensitive keys are redacted inside nested dictionaries and arrays, and in logger-level metadata")
    func nestedAndAttached() {
        let capture = LogCapture()
        var logger = capture.logger()
        logger[metadataKey: "session_token"] = .string(Self.secretValue)
        logger.info(
            "event",
            metadata: [
                "request": .dictionary(["headers": .dictionary(["authorization": .string("Basic \(Self.secretValue)")]), "path": "/x"]),
                "items": .array([.dictionary(["password": .string(Self.secretValue)])]),
            ]
        )
        #expect(!capture.text.contains(Self.secretValue))
        #expect(capture.text.contains("path:/x"))
    }

    @Test(
        "Bearer tokens and JWTs are scrubbed from any value and from the message",
        arguments: [
            "Bearer \(jwt)", "bearer abc.def.ghi", "Authorization: BEARER opaque-token-123", jwt, "token was \(unsignedJWT) here",
            "https://example.test/cb?access=\(jwt)",
        ]
    )
    func bearerAndJWTValues(value: String) {
        let capture = LogCapture()
        capture.logger().info("saw \(value)", metadata: ["note": .string(value), "detail": .stringConvertible(value)])
        let text = capture.text
        #expect(!text.contains("eyJhbGciOi"), "JWT leaked: \(text)")
        #expect(!text.contains("abc.def.ghi") && !text.contains("opaque-token-123"), "bearer leaked: \(text)")
        #expect(text.contains(LogRedaction.replacement))
    }

    @Test("Ordinary values pass through unchanged")
    func ordinaryValues() {
        let capture = LogCapture()
        capture.logger().info("order placed", metadata: ["symbol": "BTCUSDT", "basic_plan": "yes", "count": .stringConvertible(3)])
        #expect(capture.text.hasSuffix("order placed basic_plan=yes count=3 symbol=BTCUSDT"))
    }

    @Test("An error attached to the event is scrubbed too")
    func errorsAreScrubbed() {
        struct Leaky: Error, CustomStringConvertible { var description: String { "failed with Bearer \(LogRedactionTests.jwt)" } }
        let capture = LogCapture()
        capture.logger().error("failed", error: Leaky())
        #expect(!capture.text.contains("eyJhbGciOi"))
        #expect(capture.text.contains("failed with Bearer [REDACTED]"))
    }

    @Test("One line per event: newlines and control characters in messages and values are escaped")
    func oneLinePerEvent() {
        let capture = LogCapture()
        capture.logger().warning("first line\nsecond line\r\n\u{1B}[31mred", metadata: ["value": "a\nb", "quoted": "say \"hi\""])
        #expect(capture.lines.count == 1)
        #expect(!capture.lines[0].contains("\n") && !capture.lines[0].contains("\r") && !capture.lines[0].contains("\u{1B}"))
        #expect(capture.lines[0].contains("first line\\nsecond line"))
        #expect(capture.lines[0].contains(#"quoted="say \"hi\"""#))
    }

    @Test("The JSON format is one parseable object per line, redacted the same way")
    func jsonFormat() throws {
        let capture = LogCapture()
        capture.logger(format: .json).info(
            "login\nattempt",
            metadata: ["password": "hunter2hunter2", "user": "bob", "auth": .string("Bearer \(Self.jwt)")]
        )
        #expect(capture.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(capture.lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "login\nattempt")
        #expect(object["password"] as? String == LogRedaction.replacement)
        #expect(object["auth"] as? String == "Bearer [REDACTED]")
        #expect(object["user"] as? String == "bob")
        #expect(object["level"] as? String == "info")
    }
}

@Suite struct RequestLogTests {
    @Test("The request log line carries the path without its query string, and no Authorization header")
    func requestLogOmitsQuery() async throws {
        let app = try TestApplication()
        let logs = app.logs
        try await app.test { client in
            _ = try await client.execute(uri: "/healthz?token=query-secret-123", method: .get)
            _ = try await client.execute(uri: "/api/v1/bots?x=1", method: .get, headers: [.authorization: "Bearer header-secret-456"])
        }
        let requests = logs.lines.filter { $0.contains("http.status=") }
        #expect(requests.count == 2)
        #expect(requests.contains { $0.contains("http.path=/healthz") && $0.contains("http.status=200") })
        #expect(requests.contains { $0.contains("http.path=/api/v1/bots") && $0.contains("http.status=401") })
        #expect(!logs.text.contains("query-secret-123"))
        #expect(!logs.text.contains("header-secret-456"))
    }
}
