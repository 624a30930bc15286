// Collects the lines the redacting log handler writes, so tests can read exactly what would reach output.

import Foundation
import Logging
import NIOConcurrencyHelpers

@testable import Server

final class LogCapture: Sendable {
    private let storage = NIOLockedValueBox<[String]>([])

    var lines: [String] { self.storage.withLockedValue { $0 } }
    var text: String { self.lines.joined(separator: "\n") }

    func logger(label: String = "tradekeep", level: Logger.Level = .trace, format: LogFormat = .text) -> Logger {
        let sink = LogSink { [storage] line in storage.withLockedValue { $0.append(line) } }
        return Logger(label: label) { label in RedactingLogHandler(label: label, level: level, format: format, sink: sink) }
    }
}
