// The server's log handler: one line per event (text or JSON), every event passed through LogRedaction.

import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A line-oriented sink; the default writes to standard error.
public struct LogSink: Sendable {
    let write: @Sendable (String, Logger.Level) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) {
        self.write = { line, _ in write(line) }
    }

    init(leveled write: @escaping @Sendable (String, Logger.Level) -> Void) {
        self.write = write
    }

    /// Standard error, buffered: a line per request would otherwise cost a locked system call each (a request flood
    /// then becomes a flood of writes). Lines are written within 25 ms, at once from warning up, and at exit.
    public static let standardError = LogSink(leveled: { line, level in BufferedStandardError.shared.append(line, urgent: level >= .warning) })

    /// Write whatever the buffered sink holds (before printing to standard error directly, and at exit).
    public static func flush() { BufferedStandardError.shared.flush() }
}

/// Lines gathered in memory and written by one thread in large writes.
final class BufferedStandardError: Sendable {
    static let shared = BufferedStandardError()

    private let buffer = NIOLockedValueBox([UInt8]())
    /// Serialises the writes themselves, so lines never interleave.
    private let writing = NIOLock()
    static let flushThreshold = 64 * 1024

    private init() {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 0.025)
                self.flush()
            }
        }
        thread.name = "tradekeep-log-writer"
        thread.start()
        atexit { BufferedStandardError.shared.flush() }
    }

    func append(_ line: String, urgent: Bool) {
        let size = self.buffer.withLockedValue { buffer in
            buffer.append(contentsOf: line.utf8)
            buffer.append(UInt8(ascii: "\n"))
            return buffer.count
        }
        if urgent || size >= Self.flushThreshold { self.flush() }
    }

    func flush() {
        self.writing.withLock {
            let pending = self.buffer.withLockedValue { buffer -> [UInt8] in
                defer { buffer.removeAll(keepingCapacity: true) }
                return buffer
            }
            guard !pending.isEmpty else { return }
            pending.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}

public struct RedactingLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let label: String
    let format: LogFormat
    let sink: LogSink

    public init(
        label: String,
        level: Logger.Level = .info,
        format: LogFormat = .text,
        sink: LogSink = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error { merged["error"] = .string(String(describing: error)) }
        let message = LogRedaction.scrub(event.message.description)
        let line = Self.render(
            timestamp: Date(),
            level: event.level,
            label: self.label,
            message: message,
            metadata: LogRedaction.redact(merged),
            format: self.format
        )
        self.sink.write(line, event.level)
    }

    static func render(timestamp: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: LogFormat) -> String {
        let time = Self.timestamp(timestamp)
        switch format {
        case .text:
            var line = "\(time) \(level.rawValue) \(label): \(escapeText(message))"
            for key in metadata.keys.sorted() {
                line += " \(key)=\(quoteIfNeeded(flatten(metadata[key]!)))"
            }
            return line
        case .json:
            var object: [String: Any] = ["time": time, "level": level.rawValue, "label": label, "message": message]
            for (key, value) in metadata where object[key] == nil {
                object[key] = jsonValue(value)
            }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// `2026-12-02T03:04:05.678Z`, built by hand: Foundation's ISO 8601 format style costs more than the rest of a
    /// request log line together.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let milliseconds = Int((interval - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var remaining = value
            var text = [UInt8](repeating: UInt8(ascii: "0"), count: count)
            for index in stride(from: count - 1, through: 0, by: -1) {
                text[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            }
            bytes += text
        }
        digits(Int(parts.tm_year) + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        bytes.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        bytes.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        bytes.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        bytes.append(UInt8(ascii: "."))
        digits(min(max(milliseconds, 0), 999), 3)
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let dictionary): "{" + dictionary.keys.sorted().map { "\($0):\(flatten(dictionary[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(jsonValue)
        case .dictionary(let dictionary): dictionary.mapValues(jsonValue)
        }
    }

    /// Control characters become escapes, so one event is always one line.
    static func escapeText(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func quoteIfNeeded(_ text: String) -> String {
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return escapeText(text) }
        let quoted = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"" + escapeText(quoted) + "\""
    }
}
