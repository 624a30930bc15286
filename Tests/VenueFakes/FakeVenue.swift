// Shared machinery of the fake venues: request recording, injected answers (rate limits, outages) and a skewed clock.

import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// One request as a fake venue saw it.
public struct RecordedRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var headers: [String: String]
    public var body: String
}

/// An answer a test makes a fake give instead of its normal one (e.g. a 429 with Retry-After).
public struct InjectedAnswer: Sendable {
    public var status: HTTPResponse.Status
    public var headers: [String: String]
    public var body: String

    public init(status: HTTPResponse.Status, headers: [String: String] = [:], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What every fake venue shares: the log of requests, queued injected answers per path, and the venue's clock.
public final class FakeVenueLog: Sendable {
    private struct State {
        var requests: [RecordedRequest] = []
        var injected: [String: [InjectedAnswer]] = [:]
        var clockSkew: TimeInterval = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var requests: [RecordedRequest] { self.state.withLockedValue { $0.requests } }

    /// How many requests reached `path` (any method).
    public func count(path: String) -> Int { self.state.withLockedValue { $0.requests.filter { $0.path == path }.count } }

    /// Queue answers that the next requests to `path` get, one each, before the fake answers normally again.
    public func inject(path: String, _ answers: InjectedAnswer...) {
        self.state.withLockedValue { $0.injected[path, default: []].append(contentsOf: answers) }
    }

    /// How far the venue's clock is ahead of this machine's (negative: behind).
    public var clockSkew: TimeInterval {
        get { self.state.withLockedValue { $0.clockSkew } }
        set { self.state.withLockedValue { $0.clockSkew = newValue } }
    }

    /// The venue's idea of now, in milliseconds since 1970.
    public var nowMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 + self.clockSkew) * 1000) }

    func record(_ request: RecordedRequest) -> InjectedAnswer? {
        self.state.withLockedValue { state in
            state.requests.append(request)
            guard var queue = state.injected[request.path], !queue.isEmpty else { return nil }
            let answer = queue.removeFirst()
            state.injected[request.path] = queue
            return answer
        }
    }
}

/// Records every request (with its body, which the route handlers can then read from `context`-free storage)
/// and answers injected answers before the venue's own routes see the request.
public struct FakeVenueRecorder<Context: RequestContext>: RouterMiddleware {
    let log: FakeVenueLog

    public init(log: FakeVenueLog) { self.log = log }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let recorded = RecordedRequest(
            method: request.method.rawValue,
            path: request.uri.path,
            query: request.uri.query ?? "",
            headers: headers,
            body: String(buffer: buffer)
        )
        if let answer = self.log.record(recorded) {
            var fields = HTTPFields()
            for (name, value) in answer.headers { if let fieldName = HTTPField.Name(name) { fields[fieldName] = value } }
            fields[.contentType] = "application/json"
            return Response(status: answer.status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        return try await next(request, context)
    }
}

/// A JSON answer with the given status.
public func fakeJSON(_ status: HTTPResponse.Status = .ok, _ object: Any, headers: [String: String] = [:]) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    var fields = HTTPFields()
    for (name, value) in headers { if let fieldName = HTTPField.Name(name) { fields[fieldName] = value } }
    fields[.contentType] = "application/json"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
