// The dashboard's templates (swift-mustache, HTML-escaped by default) and static files, loaded once at start.
// Static files are served under names that carry a hash of their content, cached as immutable.

import Crypto
import Foundation
import Hummingbird
import Mustache

struct Views: Sendable {
    struct Asset: Sendable {
        let path: String
        let contentType: String
        let bytes: [UInt8]
    }

    let library: MustacheLibrary
    /// `/static/app.<hash>.css` and `.js`, by their plain names.
    let assets: [String: Asset]
    let css: String
    let js: String

    static let templateNames = [
        "layout", "login", "login-code", "register", "enrol", "backup-codes", "message", "forgot", "reset", "home", "orders-table",
        "kill-confirm", "kill-result", "bot-new", "bot", "keys", "audit", "security", "alerts",
    ]

    init() throws {
        var library = MustacheLibrary()
        for name in Self.templateNames {
            guard let url = Bundle.module.url(forResource: name, withExtension: "mustache", subdirectory: "templates") else {
                throw ViewError.missing("templates/\(name).mustache")
            }
            try library.register(String(contentsOf: url, encoding: .utf8), named: name)
        }
        self.library = library
        var assets: [String: Asset] = [:]
        var paths: [String: String] = [:]
        for (name, type) in [("app.css", "text/css; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8")] {
            let parts = name.split(separator: ".")
            guard let url = Bundle.module.url(forResource: String(parts[0]), withExtension: String(parts[1]), subdirectory: "static") else {
                throw ViewError.missing("static/\(name)")
            }
            let bytes = Array(try Data(contentsOf: url))
            let hash = SHA256.hash(data: bytes).prefix(6).map { String(format: "%02x", $0) }.joined()
            let path = "/static/\(parts[0]).\(hash).\(parts[1])"
            assets[path] = Asset(path: path, contentType: type, bytes: bytes)
            paths[name] = path
        }
        self.assets = assets
        self.css = paths["app.css"] ?? ""
        self.js = paths["app.js"] ?? ""
    }

    enum ViewError: Error, CustomStringConvertible {
        case missing(String)
        var description: String {
            switch self {
            case .missing(let name): "the dashboard resource \(name) is missing from the build"
            }
        }
    }

    /// A full page: the template with the layout's values added. Never cached: pages hold per-user data.
    func page(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var context = values
        context["css"] = self.css
        context["js"] = self.js
        // Every page names a template in `templateNames` (checked at start-up), so this never falls back in practice;
        // if it did, the page would say so rather than answer an empty 200.
        guard let html = self.library.render(context, withTemplate: template) else {
            return Response(
                status: .internalServerError,
                headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: "This page is missing from this build."))
            )
        }
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func asset(_ path: String) -> Response? {
        guard let asset = self.assets[path] else { return nil }
        return Response(
            status: .ok,
            headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable"],
            body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes))
        )
    }

    static func redirect(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.location] = location
        fields[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: fields)
    }
}

/// An application/x-www-form-urlencoded body.
struct FormBody: Sendable {
    let fields: [String: String]

    init(fields: [String: String]) {
        self.fields = fields
    }

    init(_ request: Request, context: some RequestContext) async throws {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        self.init(fields: Self.parse(String(decoding: buffer.readableBytesView, as: UTF8.self)))
    }

    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            // The first value wins: a repeated field cannot override what the form put first.
            if fields[name] == nil { fields[name] = parts.count > 1 ? Self.decode(parts[1]) ?? "" : "" }
        }
        return fields
    }

    static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    subscript(_ name: String) -> String? {
        guard let value = self.fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// A field the form must have, or a 400 naming it.
    func required(_ name: String) throws -> String {
        guard let value = self[name] else { throw APIError.badRequest("Fill in `\(name)`.") }
        return value
    }
}
