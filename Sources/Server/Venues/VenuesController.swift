// /api/v1/venues and /api/v1/credentials: what each venue requires of a key, and the user's exchange keys.

import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Venues

struct VenuesController {
    let paper: PaperVenue
    let credentials: CredentialService

    func addRoutes(to router: Router<AppRequestContext>) {
        let api = router.group("/api/v1", context: AuthenticatedContext.self)
        api.get("/venues", use: self.venues)
        api.get("/credentials", use: self.list)
        api.post("/credentials", use: self.create)
        api.get("/credentials/:id", use: self.show)
        api.post("/credentials/:id/rotate", use: self.rotate)
        api.delete("/credentials/:id", use: self.delete)
        api.get("/markets/:venue/:symbol", use: self.market)
    }

    struct Market: ResponseEncodable {
        let symbol: String
        let price: Decimal
        let bid: Decimal?
        let ask: Decimal?
        let time: Date
    }

    /// The venue's ticker, through its adapter (the paper venue's engine for `paper`).
    @Sendable func market(_ request: Request, context: AuthenticatedContext) async throws -> Market {
        guard let id = context.parameters.get("venue").flatMap(VenueID.init(rawValue:)) else {
            throw APIError.notFound("No venue has this id: see GET /api/v1/venues.")
        }
        let symbol = (context.parameters.get("symbol") ?? "").uppercased()
        guard !symbol.isEmpty, symbol.count <= 40, symbol.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw APIError.notFound("No market has this symbol.")
        }
        guard let venue: any Venues.Venue = id == .paper ? self.paper : self.credentials.directory.venue(id) else { throw APIError.notFound() }
        do {
            let ticker = try await venue.ticker(symbol: symbol)
            return Market(symbol: ticker.symbol, price: ticker.price, bid: ticker.bid, ask: ticker.ask, time: ticker.time)
        } catch VenueError.rejected(_, let code, _) where code == "unknown_symbol" || code == "-1121" || code == "10001" {
            throw APIError.notFound("\(id.displayName) has no market \(symbol).")
        } catch VenueError.notSupported(_, let what) {
            throw APIError(.unprocessableContent, code: "not_supported", message: "\(what) on \(id.displayName) is not supported yet.")
        } catch let error as VenueError {
            throw APIError(.badGateway, code: "venue_unreachable", message: error.description)
        }
    }

    struct Venue: ResponseEncodable {
        let id: String
        let name: String
        let requiredScopes: [String]
        let forbiddenScopes: [String]
        let supportsIpAllowlist: Bool
        let egressIps: [String]
    }

    struct Credential: ResponseEncodable {
        let id: String
        let venue: String
        let label: String
        let keyHint: String
        let permissions: [String]
        let ipRestricted: Bool?
        let warnings: [String]
        let createdAt: Date
        let rotatedAt: Date?

        init(_ record: CredentialRecord) {
            self.id = record.id.apiString
            self.venue = record.venue
            self.label = record.label
            self.keyHint = record.keyHint
            self.permissions = record.permissions
            self.ipRestricted = record.ipRestricted
            self.warnings = record.warnings
            self.createdAt = record.createdAt
            self.rotatedAt = record.rotatedAt
        }

        // ip_restricted and rotated_at are always present (null when unknown / never rotated).
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.id, forKey: .id)
            try container.encode(self.venue, forKey: .venue)
            try container.encode(self.label, forKey: .label)
            try container.encode(self.keyHint, forKey: .keyHint)
            try container.encode(self.permissions, forKey: .permissions)
            try container.encode(self.ipRestricted, forKey: .ipRestricted)
            try container.encode(self.warnings, forKey: .warnings)
            try container.encode(self.createdAt, forKey: .createdAt)
            try container.encode(self.rotatedAt, forKey: .rotatedAt)
        }

        enum CodingKeys: String, CodingKey { case id, venue, label, keyHint, permissions, ipRestricted, warnings, createdAt, rotatedAt }
    }

    struct CreateBody: Decodable {
        let venue: String
        let label: String
        let apiKey: String
        let apiSecret: String
        let passphrase: String?
        let totpCode: String?
    }

    struct RotateBody: Decodable {
        let apiKey: String
        let apiSecret: String
        let passphrase: String?
        let totpCode: String?
    }
    struct StepUpBody: Decodable { let totpCode: String? }

    @Sendable func venues(_ request: Request, context: AuthenticatedContext) async throws -> [Venue] {
        VenueID.allCases.map { id in
            let description = VenueDirectory.describe(id)
            return Venue(
                id: id.rawValue,
                name: description.name,
                requiredScopes: description.requiredScopes,
                forbiddenScopes: description.forbiddenScopes,
                supportsIpAllowlist: description.supportsIPAllowlist,
                egressIps: self.credentials.policy.egressIPs
            )
        }
    }

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Credential] {
        try await self.credentials.store.list(userID: context.identity.userID).map(Credential.init)
    }

    @Sendable func show(_ request: Request, context: AuthenticatedContext) async throws -> Credential {
        guard let record = try await self.credentials.store.credential(id: try Self.id(context), userID: context.identity.userID) else {
            throw CredentialService.notFound
        }
        return Credential(record)
    }

    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Credential> {
        let body = try await request.decodeJSON(as: CreateBody.self, context: context)
        let submission = CredentialService.Submission(venue: body.venue, apiKey: body.apiKey, apiSecret: body.apiSecret, passphrase: body.passphrase)
        let record = try await self.credentials.create(
            context.identity,
            label: body.label,
            submission: submission,
            totpCode: body.totpCode,
            client: AuthController.client(request, context.clientIP)
        )
        return EditedResponse(status: .created, response: Credential(record))
    }

    @Sendable func rotate(_ request: Request, context: AuthenticatedContext) async throws -> Credential {
        let id = try Self.id(context)
        let body = try await request.decodeJSON(as: RotateBody.self, context: context)
        let submission = CredentialService.Submission(venue: "", apiKey: body.apiKey, apiSecret: body.apiSecret, passphrase: body.passphrase)
        return Credential(
            try await self.credentials.rotate(
                context.identity,
                id: id,
                submission: submission,
                totpCode: body.totpCode,
                client: AuthController.client(request, context.clientIP)
            )
        )
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let id = try Self.id(context)
        let body = try? await request.decodeJSON(as: StepUpBody.self, context: context)
        try await self.credentials.delete(
            context.identity,
            id: id,
            totpCode: body?.totpCode ?? request.headers[.xTOTPCode],
            client: AuthController.client(request, context.clientIP)
        )
        return .noContent
    }

    static func id(_ context: AuthenticatedContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw CredentialService.notFound }
        return id
    }
}
