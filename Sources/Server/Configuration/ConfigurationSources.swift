// Where setting values come from: flags over TRADEKEEP_* variables over an optional config file over defaults.

import Foundation
import Vault

/// A configuration error names the setting and says what to do.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public let setting: String
    public let message: String

    public init(_ setting: String, _ message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "\(self.setting): \(self.message)" }
}

/// The layered sources of configuration values.
public struct ConfigurationSources: Sendable {
    public enum Origin: String, Sendable {
        case flag, environment, file
    }

    /// Values given on the command line, keyed by setting name.
    public var flags: [String: String]
    public var environment: [String: String]
    /// Values from the config file, keyed by setting name.
    public var file: [String: String]
    public var fileURL: URL?

    public init(flags: [String: String] = [:], environment: [String: String] = [:], file: [String: String] = [:], fileURL: URL? = nil) {
        self.flags = flags
        self.environment = environment
        self.file = file
        self.fileURL = fileURL
    }

    /// Collect sources, reading the config file named by --config or TRADEKEEP_CONFIG when there is one.
    public static func load(flags: [String: String], environment: [String: String]) throws -> ConfigurationSources {
        var sources = ConfigurationSources(flags: flags, environment: environment)
        if let path = sources.value(.configFile) {
            let url = URL(fileURLWithPath: path)
            let bytes: [UInt8]
            do {
                bytes = try SecureFile.read(url)
            } catch {
                throw ConfigurationError(Setting.configFile.name, "cannot read \(path): \(error)")
            }
            sources.file = try parseFile(String(decoding: bytes, as: UTF8.self), path: path)
            sources.fileURL = url
        }
        return sources
    }

    public func value(_ setting: Setting) -> String? {
        self.valueAndOrigin(setting)?.value
    }

    public func valueAndOrigin(_ setting: Setting) -> (value: String, origin: Origin)? {
        if let value = self.flags[setting.name] { return (value, .flag) }
        if let value = self.environment[setting.name], !value.isEmpty { return (value, .environment) }
        if let value = self.file[setting.name] { return (value, .file) }
        return nil
    }

    /// The config file format: `NAME=value` lines with the same names as the environment variables,
    /// `#` comments, optional double quotes. Unknown names are errors, so a typo cannot silently drop a setting.
    static func parseFile(_ text: String, path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(Setting.configFile.name, "\(path) line \(index + 1): expected NAME=value")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard let setting = Setting.named(name) else {
                throw ConfigurationError(Setting.configFile.name, "\(path) line \(index + 1): unknown setting \(name)")
            }
            guard setting != .configFile else {
                throw ConfigurationError(Setting.configFile.name, "\(path) line \(index + 1): a config file cannot name another")
            }
            values[name] = value
        }
        return values
    }
}
