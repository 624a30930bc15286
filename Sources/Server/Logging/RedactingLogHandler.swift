// The server's log handler: one line per event (text or JSON), every event passed through LogRedaction.

import Foundation
import Logging
import NIOConcurrencyHelpers

/// A line-oriented sink; the default writes to standard error.
public struct LogSink: Sendable {
    let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) {
        self.write = write
    }

    public static let standardError = LogSink { line in
        let data = Data((line + "\n").utf8)
        lock.withLock { FileHandle.standardError.write(data) }
    }

    private static let lock = NIOLock()
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
        self.sink.write(line)
    }

    static func render(timestamp: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: LogFormat) -> String {
        let time = timestamp.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
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
