// HTTP to one venue: timeouts, rate-limit answers obeyed (429/418 Retry-After, usage headers), and venue clock sync.

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP request to a venue, built (and signed) afresh for every attempt.
public struct VenueRequest: Sendable {
    public var method: HTTPMethod
    /// The path without the query, e.g. `/fapi/v1/order`.
    public var path: String
    /// The query string exactly as signed, without `?`.
    public var query: String
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(method: HTTPMethod, path: String, query: String = "", headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Path and query as they appear on the request line.
    public var target: String { self.query.isEmpty ? self.path : "\(self.path)?\(self.query)" }
}

public struct VenueResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public func json() -> Any? { try? JSONSerialization.jsonObject(with: Data(self.body)) }
}

/// What a venue's answer says about its rate limits.
public enum RateLimitSignal: Sendable, Equatable {
    /// Refused for rate: wait this long, then the request may be retried.
    case refused(retryAfter: Duration)
    /// Accepted, but the budget is spent: send nothing more for this long.
    case exhausted(pause: Duration)
}

/// Sends requests to one venue and keeps to its rate limits: after a refusal nothing is sent until the venue's
/// Retry-After has passed, and usage headers that say the budget is spent pause the next request.
public actor VenueTransport {
    public let venue: VenueID
    public let baseURL: String
    let client: HTTPClient
    let timeout: TimeAmount
    /// Longest pause we sit out inside a call; longer ones fail the call with `.rateLimited`.
    let maximumWait: Duration
    /// Reads the venue's own rate-limit signals (headers, or error codes in a 200 answer).
    nonisolated let rateLimitSignal: @Sendable (VenueResponse) -> RateLimitSignal?
    private var pausedUntil: ContinuousClock.Instant?
    /// Rate-limit refusals seen, for tests and metrics.
    public private(set) var refusals = 0

    public init(
        venue: VenueID,
        baseURL: String,
        client: HTTPClient = .shared,
        timeout: TimeAmount = .seconds(10),
        maximumWait: Duration = .seconds(5),
        rateLimitSignal: @escaping @Sendable (VenueResponse) -> RateLimitSignal? = VenueTransport.retryAfterSignal
    ) {
        self.venue = venue
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.timeout = timeout
        self.maximumWait = maximumWait
        self.rateLimitSignal = rateLimitSignal
    }

    /// Send the request `build` makes (signed with a timestamp taken inside it, so a resent request is fresh). With
    /// `retry`, a rate-limit refusal is waited out (up to `maximumWait`) and the request rebuilt and sent again, up to three times; without it (key introspection) it is never resent.
    public func send(retry: Bool, _ build: @Sendable () async throws -> VenueRequest) async throws -> VenueResponse {
        var attempts = 0
        while true {
            try await self.waitOutPause()
            let request = try await build()
            let response = try await self.execute(request)
            switch self.rateLimitSignal(response) {
            case .refused(let retryAfter):
                self.refusals += 1
                self.pause(for: retryAfter)
                attempts += 1
                guard retry, attempts < 3, retryAfter <= self.maximumWait else { throw VenueError.rateLimited(self.venue, retryAfter: retryAfter) }
            case .exhausted(let pause):
                self.pause(for: pause)
                return response
            case nil:
                return response
            }
        }
    }

    private func pause(for duration: Duration) {
        let until = ContinuousClock.now + duration
        if let current = self.pausedUntil, current > until { return }
        self.pausedUntil = until
    }

    private func waitOutPause() async throws {
        // Checked again after each sleep: another call may have lengthened the pause meanwhile.
        while let until = self.pausedUntil {
            let remaining = until - ContinuousClock.now
            if remaining <= .zero {
                self.pausedUntil = nil
                return
            }
            guard remaining <= self.maximumWait else { throw VenueError.rateLimited(self.venue, retryAfter: remaining) }
            try await Task.sleep(until: until, clock: .continuous)
        }
    }

    private func execute(_ request: VenueRequest) async throws -> VenueResponse {
        var outgoing = HTTPClientRequest(url: self.baseURL + request.target)
        outgoing.method = request.method
        outgoing.headers = request.headers
        outgoing.headers.replaceOrAdd(name: "User-Agent", value: "tradekeep")
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(bytes: request.body)) }
        do {
            let response = try await self.client.execute(outgoing, timeout: self.timeout)
            let body = try await response.body.collect(upTo: 8 << 20)
            return VenueResponse(status: response.status, headers: response.headers, body: Array(buffer: body))
        } catch let error as HTTPClientError {
            // The error names the failure only (connect refused, timeout…), never headers or bodies.
            throw VenueError.unreachable(self.venue, String(describing: error))
        } catch {
            throw VenueError.unreachable(self.venue, "\(type(of: error))")
        }
    }

    /// The generic rule: 429 and 418 are refusals; Retry-After (seconds) says how long, else one second.
    public static let retryAfterSignal: @Sendable (VenueResponse) -> RateLimitSignal? = { response in
        guard response.status == .tooManyRequests || response.status.code == 418 else { return nil }
        return .refused(retryAfter: retryAfter(response.headers) ?? .seconds(1))
    }

    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds(max(0, $0)) }
    }
}

/// The venue's clock as an offset from ours, measured from its time endpoint (half the round trip counted).
public actor VenueClock {
    private var offsetMilliseconds: Int64?

    public init() {}

    /// Now on the venue, in milliseconds since 1970; syncs first if never synced.
    public func now(sync: @Sendable () async throws -> Int64) async throws -> Int64 {
        if self.offsetMilliseconds == nil { try await self.resync(sync) }
        return Self.localMilliseconds() + (self.offsetMilliseconds ?? 0)
    }

    /// Measure the offset again (after a venue says our timestamp is outside its window).
    public func resync(_ sync: @Sendable () async throws -> Int64) async throws {
        let sent = Self.localMilliseconds()
        let venueTime = try await sync()
        let received = Self.localMilliseconds()
        self.offsetMilliseconds = venueTime - (sent + received) / 2
    }

    public var offset: Int64? { self.offsetMilliseconds }

    static func localMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
