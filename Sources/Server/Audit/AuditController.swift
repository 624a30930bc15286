// The audit routes: the public log (C2SP tiles and checkpoint, the key) and a user's own entries, export and proofs.

import AuditLog
import Foundation
import Hummingbird
import Storage

struct AuditController {
    let publisher: AuditLogPublisher

    func addRoutes(public router: Router<AppRequestContext>, signedIn: RouterGroup<AuthenticatedContext>) {
        router.get("/audit/log/checkpoint", use: self.checkpoint)
        router.get("/.well-known/tradekeep/checkpoint", use: self.checkpoint)
        router.get("/.well-known/tradekeep/audit-key", use: self.auditKey)
        router.get("/audit/log/tile/**", use: self.tile)
        signedIn.get("/audit", use: self.list)
        signedIn.get("/audit/export", use: self.export)
        signedIn.get("/audit/proof/consistency", use: self.consistency)
        signedIn.get("/audit/proof/inclusion", use: self.inclusion)
    }

    static func text(_ text: String, cache: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: cache],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    @Sendable func checkpoint(_ request: Request, context: AppRequestContext) async throws -> Response {
        Self.text(try await self.publisher.published().note, cache: "no-cache")
    }

    @Sendable func auditKey(_ request: Request, context: AppRequestContext) async throws -> Response {
        Self.text(self.publisher.verifierKey.text + "\n", cache: "public, max-age=3600")
    }

    @Sendable func tile(_ request: Request, context: AppRequestContext) async throws -> Response {
        let path = context.parameters.getCatchAll().joined(separator: "/")
        guard let id = TileID(path: path) else { throw APIError.notFound("There is no such tile: see C2SP tlog-tiles for the paths.") }
        guard let data = try await self.publisher.tile(id) else {
            throw APIError.notFound("The log has no such tile yet.")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", .cacheControl: "public, max-age=31536000, immutable"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    // MARK: A user's own entries

    struct Entry: ResponseEncodable {
        let index: UInt64
        let leafHash: String
        let time: String
        let action: String
        let actor: String
        let target: String
        let ip: String
        let userAgent: String
        let details: [String: String]
        let prev: String

        init(_ stored: IntegratedEntry) throws {
            let entry = try AuditEntry(bytes: stored.entry)
            self.index = stored.index
            self.leafHash = Hex.encode(RFC6962.leafHash(stored.leaf))
            self.time = entry.time
            self.action = entry.action
            self.actor = entry.actor
            self.target = entry.target
            self.ip = entry.ip
            self.userAgent = entry.userAgent
            self.details = entry.details
            self.prev = entry.prev
        }
    }

    static func number(_ request: Request, _ name: String, in range: ClosedRange<UInt64>) throws -> UInt64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = UInt64(text), String(value) == text, range.contains(value) else {
            throw APIError.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Entry] {
        let before = try Self.number(request, "before", in: 0...UInt64(Int64.max))
        let limit = try Self.number(request, "limit", in: 1...500) ?? 100
        let action = request.uri.queryParameters.get("action")
        if let action, action.count > 100 || action.isEmpty { throw APIError.badRequest("action must be an audit action name such as auth.login.") }
        return try await self.publisher.page(owner: context.identity.userID, before: before, limit: Int(limit), action: action).map(Entry.init)
    }

    @Sendable func export(_ request: Request, context: AuthenticatedContext) async throws -> Response {
        try await Self.export(request, owner: context.identity.userID, publisher: self.publisher)
    }

    /// The owner's entries as a download (the API's route and the dashboard's link).
    static func export(_ request: Request, owner: UUID, publisher: AuditLogPublisher) async throws -> Response {
        let format = request.uri.queryParameters.get("format") ?? "json"
        guard format == "json" || format == "csv" else { throw APIError.badRequest("format must be json or csv.") }
        let checkpoint = try await publisher.published()
        if format == "csv" {
            let rows = try await publisher.export(owner: owner, checkpoint: checkpoint)
            var csv = "index,leaf_hash,time,action,actor,target,ip,user_agent,details,prev\n"
            for row in rows {
                let entry = try Entry(row.stored)
                let details = String(decoding: CanonicalJSON.object(entry.details.map { ($0.key, .string($0.value)) }), as: UTF8.self)
                let fields = [
                    String(entry.index), entry.leafHash, entry.time, entry.action, entry.actor, entry.target, entry.ip, entry.userAgent, details,
                    entry.prev,
                ]
                csv += fields.map(Self.csvField).joined(separator: ",") + "\n"
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"tradekeep-audit.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: csv))
            )
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentDisposition: "attachment; filename=\"tradekeep-audit.json\""],
            body: .init(byteBuffer: ByteBuffer(bytes: try await publisher.exportJSON(owner: owner, checkpoint: checkpoint)))
        )
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break; a leading =, +, - or @ is prefixed with a quote
    /// so a spreadsheet does not run it as a formula.
    static func csvField(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
        guard value.contains(where: { ",\"\n\r".contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    struct Proof: ResponseEncodable {
        let proof: [String]
    }

    @Sendable func consistency(_ request: Request, context: AuthenticatedContext) async throws -> Proof {
        guard let from = try Self.number(request, "from", in: 1...UInt64(Int64.max)),
            let to = try Self.number(request, "to", in: 1...UInt64(Int64.max))
        else {
            throw APIError.badRequest("from and to are required: two tree sizes, from at most to.")
        }
        let size = try await self.publisher.size()
        guard from <= to, to <= size else { throw APIError.badRequest("from must be at most to, and to at most the log's size (\(size)).") }
        return Proof(proof: try await self.publisher.consistencyProof(from: from, to: to).map { Data($0).base64EncodedString() })
    }

    @Sendable func inclusion(_ request: Request, context: AuthenticatedContext) async throws -> Proof {
        guard let index = try Self.number(request, "index", in: 0...UInt64(Int64.max)),
            let size = try Self.number(request, "size", in: 1...UInt64(Int64.max))
        else { throw APIError.badRequest("index and size are required: one of your entries' index and a tree size above it.") }
        guard index < size, size <= (try await self.publisher.size()) else {
            throw APIError.badRequest("index must be below size, and size at most the log's size.")
        }
        guard let proof = try await self.publisher.inclusionProof(index: index, size: size, owner: context.identity.userID) else {
            throw APIError.notFound("You have no audit entry at this index.")
        }
        return Proof(proof: proof.map { Data($0).base64EncodedString() })
    }
}
