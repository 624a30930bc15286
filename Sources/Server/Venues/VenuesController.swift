// /api/v1/venues, /credentials and /markets: what each venue requires of a key, the user's exchange keys, prices.

import Bots
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Venues

struct VenuesController {
    let credentials: CredentialService
    let venues: TradingVenues
    let stepUp: StepUp

    func addRoutes(to signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.get("/venues", use: self.list)
        signedIn.get("/credentials", use: self.credentialList)
        signedIn.post("/credentials", use: self.create)
        signedIn.get("/credentials/:id", use: self.show)
        signedIn.post("/credentials/:id/rotate", use: self.rotate)
        signedIn.delete("/credentials/:id", use: self.delete)
        signedIn.get("/markets/:venue/:symbol", use: self.market)
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
        do {
            let ticker = try await self.venues.venue(id).ticker(symbol: symbol)
            return Market(symbol: ticker.symbol, price: ticker.price, bid: ticker.bid, ask: ticker.ask, time: ticker.time)
        } catch VenueError.rejected(_, let code, _) where code == "unknown_symbol" || code == "-1121" || code == "10001" {
            throw APIError.notFound("\(id.displayName) has no market \(symbol).")
        } catch VenueError.notSupported(_, let what) {
            throw APIError(.unprocessableContent, code: "not_supported", message: "\(what) on \(id.displayName) is not supported yet.")
        } catch let error as VenueError {
            context.logger.notice("venue did not answer a market lookup", metadata: ["error": .string(error.description)])
            throw APIError(.badGateway, code: "venue_unreachable", message: error.publicMessage)
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
        /// `active`, or `disabled` after a failed re-check (never used again; rotate it to fix).
        let status: String
        let disabledReason: String?
        let checkedAt: Date?

        init(_ record: CredentialRecord) {
            self.id = record.id.apiString
            self.venue = record.venue.rawValue
            self.label = record.label
            self.keyHint = record.keyHint
            self.permissions = record.permissions
            self.ipRestricted = record.ipRestricted
            self.warnings = record.warnings
            self.createdAt = record.createdAt
            self.rotatedAt = record.rotatedAt
            self.status = record.disabledAt == nil ? "active" : "disabled"
            self.disabledReason = record.disabledReason
            self.checkedAt = record.checkedAt
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
            try container.encode(self.status, forKey: .status)
            try container.encode(self.disabledReason, forKey: .disabledReason)
            try container.encode(self.checkedAt, forKey: .checkedAt)
        }

        enum CodingKeys: String, CodingKey {
            case status
            case disabledReason
            case checkedAt
            case id
            case venue
            case label
            case keyHint
            case permissions
            case ipRestricted
            case warnings
            case createdAt
            case rotatedAt
        }
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

    @Sendable func list(_ request: Request, context: AuthenticatedContext) async throws -> [Venue] {
        let listing = self.credentials.venues()
        return listing.venues.map { description in
            Venue(
                id: description.id.rawValue,
                name: description.name,
                requiredScopes: description.requiredScopes,
                forbiddenScopes: description.forbiddenScopes,
                supportsIpAllowlist: description.supportsIPAllowlist,
                egressIps: listing.egressIPs
            )
        }
    }

    @Sendable func credentialList(_ request: Request, context: AuthenticatedContext) async throws -> [Credential] {
        try await self.credentials.list(owner: context.identity.userID).map(Credential.init)
    }

    @Sendable func show(_ request: Request, context: AuthenticatedContext) async throws -> Credential {
        Credential(try await self.credentials.credential(id: try Self.id(context), owner: context.identity.userID))
    }

    /// Checked first (nothing sent anywhere), then step-up, then the venue is asked once.
    @Sendable func create(_ request: Request, context: AuthenticatedContext) async throws -> EditedResponse<Credential> {
        let body = try await request.decode(as: CreateBody.self, context: context)
        let draft = try self.credentials.draft(
            venue: body.venue,
            label: body.label,
            apiKey: body.apiKey,
            apiSecret: body.apiSecret,
            passphrase: body.passphrase
        )
        try await self.stepUp.verify(context.identity, code: body.totpCode, client: context.client)
        let record = try await self.credentials.create(draft, owner: context.identity.userID, client: context.client)
        return EditedResponse(status: .created, response: Credential(record))
    }

    @Sendable func rotate(_ request: Request, context: AuthenticatedContext) async throws -> Credential {
        let id = try Self.id(context)
        let body = try await request.decode(as: RotateBody.self, context: context)
        let (existing, draft) = try await self.credentials.rotationDraft(
            id: id,
            owner: context.identity.userID,
            apiKey: body.apiKey,
            apiSecret: body.apiSecret,
            passphrase: body.passphrase
        )
        try await self.stepUp.verify(context.identity, code: body.totpCode, client: context.client)
        return Credential(try await self.credentials.rotate(existing, to: draft, client: context.client))
    }

    @Sendable func delete(_ request: Request, context: AuthenticatedContext) async throws -> HTTPResponse.Status {
        let existing = try await self.credentials.deletable(id: try Self.id(context), owner: context.identity.userID)
        try await self.stepUp.verify(request, context)
        try await self.credentials.delete(existing, client: context.client)
        return .noContent
    }

    static func id(_ context: AuthenticatedContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else { throw CredentialError.notFound }
        return id
    }
}
