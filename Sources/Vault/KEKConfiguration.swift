// TRADEKEEP_KEK: which provider holds the key-encryption key.
//   local
//   aws-kms:<key id, alias or ARN>?region=<region>&endpoint=<url>
//   pkcs11:token=<label>;object=<label>?module-path=<path>&pin-value=<pin>   (RFC 7512; or pin-source=<file>)

import Foundation

public enum KEKConfiguration: Sendable, Equatable, CustomStringConvertible {
    case local
    case awsKMS(key: String, region: String?, endpoint: URL?)
    case pkcs11(PKCS11Location)

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { self.message }
    }

    public init(_ text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "local" {
            self = .local
        } else if text.hasPrefix("aws-kms:") {
            let rest = String(text.dropFirst("aws-kms:".count))
            let (key, query) = Self.split(rest, at: "?")
            guard !key.isEmpty else {
                throw ParseError(message: "aws-kms: needs a key id, alias or ARN, e.g. aws-kms:alias/tradekeep?region=eu-west-1")
            }
            var region: String?
            var endpoint: URL?
            for (name, value) in try Self.pairs(query, separator: "&") {
                switch name {
                case "region": region = value
                case "endpoint":
                    guard let url = URL(string: value), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                        throw ParseError(message: "aws-kms endpoint must be an http(s) URL")
                    }
                    endpoint = url
                default: throw ParseError(message: "unknown aws-kms parameter \(name); supported: region, endpoint")
                }
            }
            // An ARN names its region: arn:aws:kms:<region>:<account>:key/<id>
            if region == nil, key.hasPrefix("arn:") {
                let parts = key.split(separator: ":", omittingEmptySubsequences: false)
                if parts.count > 3, !parts[3].isEmpty { region = String(parts[3]) }
            }
            self = .awsKMS(key: key, region: region, endpoint: endpoint)
        } else if text.hasPrefix("pkcs11:") {
            self = .pkcs11(try PKCS11Location(uri: text))
        } else {
            throw ParseError(message: "expected local, aws-kms:<key>?region=…&endpoint=… or pkcs11:token=…;object=…?module-path=…&pin-value=…")
        }
    }

    public var kind: String {
        switch self {
        case .local: "local"
        case .awsKMS: "aws-kms"
        case .pkcs11: "pkcs11"
        }
    }

    /// Never includes a PIN.
    public var description: String {
        switch self {
        case .local: "local"
        case .awsKMS(let key, let region, let endpoint):
            "aws-kms:\(key) (region \(region ?? "from AWS_REGION"), endpoint \(endpoint?.absoluteString ?? "AWS"))"
        case .pkcs11(let location): "pkcs11:token=\(location.token);object=\(location.object) (module \(location.modulePath))"
        }
    }

    static func split(_ text: String, at separator: Character) -> (String, String) {
        guard let index = text.firstIndex(of: separator) else { return (text, "") }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }

    static func pairs(_ text: String, separator: Character) throws -> [(String, String)] {
        try text.split(separator: separator, omittingEmptySubsequences: true).map { part in
            let (name, value) = self.split(String(part), at: "=")
            guard let decoded = value.removingPercentEncoding, !name.isEmpty else {
                throw ParseError(message: "malformed parameter \(name)")
            }
            return (name.lowercased(), decoded)
        }
    }
}

/// Where a PKCS#11 key lives, from an RFC 7512 URI.
public struct PKCS11Location: Sendable, Equatable {
    public var token: String
    public var object: String
    public var modulePath: String
    /// The user PIN: from `pin-value`, or read from the file named by `pin-source`.
    public var pin: String

    public init(token: String, object: String, modulePath: String, pin: String) {
        self.token = token
        self.object = object
        self.modulePath = modulePath
        self.pin = pin
    }

    public init(uri: String) throws {
        let body = String(uri.dropFirst("pkcs11:".count))
        let (path, query) = KEKConfiguration.split(body, at: "?")
        var token: String?
        var object: String?
        var module: String?
        var pin: String?
        for (name, value) in try KEKConfiguration.pairs(path, separator: ";") {
            switch name {
            case "token": token = value
            case "object": object = value
            default: break  // other RFC 7512 path attributes (manufacturer, serial, type, id) narrow nothing we need
            }
        }
        for (name, value) in try KEKConfiguration.pairs(query, separator: "&") {
            switch name {
            case "module-path": module = value
            case "pin-value": pin = value
            case "pin-source":
                let path = value.hasPrefix("file:") ? String(value.dropFirst("file:".count)) : value
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw KEKConfiguration.ParseError(message: "pkcs11 pin-source \(path) cannot be read")
                }
                pin = text.trimmingCharacters(in: .whitespacesAndNewlines)
            default: break
            }
        }
        guard let token, !token.isEmpty else { throw KEKConfiguration.ParseError(message: "pkcs11: needs token=<label>") }
        guard let object, !object.isEmpty else { throw KEKConfiguration.ParseError(message: "pkcs11: needs object=<label>") }
        guard let module, !module.isEmpty else {
            throw KEKConfiguration.ParseError(message: "pkcs11: needs ?module-path=<path to the PKCS#11 library>")
        }
        guard let pin else { throw KEKConfiguration.ParseError(message: "pkcs11: needs pin-value=<pin> or pin-source=<file>") }
        self.init(token: token, object: object, modulePath: module, pin: pin)
    }
}
