// One log line per request: method, path without its query (queries can carry tokens), status, duration. Two
// exceptions keep the log from becoming an attacker's lever: health probes (a load balancer's every few seconds) log
// at debug, and refused requests (4xx, 503) are written at most `RefusalLog.linesPerWindow` per 10 s window; the rest
// are counted and summarised in one line per window, so a flood costs neither disk nor CPU.

import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore

struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let refusals: RefusalLog

    init(refusals: RefusalLog = RefusalLog()) {
        self.refusals = refusals
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let path = request.uri.path
        let status = response.status.code
        let level: Logger.Level = path == "/healthz" || path == "/readyz" ? .debug : .info
        guard context.logger.logLevel <= level else { return response }
        if (400..<500).contains(status) || status == 503 {
            switch self.refusals.admit(now: start) {
            case .write: break
            case .suppress: return response
            case .summarise(let suppressed):
                context.logger.notice(
                    "refused requests not logged one by one",
                    metadata: [
                        "suppressed": .stringConvertible(suppressed), "window_seconds": .stringConvertible(RefusalLog.window.components.seconds),
                    ]
                )
            }
        }
        let elapsed = ContinuousClock.now - start
        let microseconds = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        var metadata: Logger.Metadata = [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(path),
            "http.status": .stringConvertible(status),
            // One decimal of milliseconds, without a format string.
            "duration_ms": .string("\(microseconds / 1000).\(microseconds % 1000 / 100)"),
        ]
        if let address = context.remoteAddress?.ipAddress { metadata["client.ip"] = .string(address) }
        context.logger.log(level: level, "request", metadata: metadata)
        return response
    }
}

/// How many refused requests are logged line by line: a budget per 10 s window; beyond it, a count.
final class RefusalLog: Sendable {
    static let window: Duration = .seconds(10)
    static let linesPerWindow = 100

    enum Decision: Equatable {
        case write
        case suppress
        /// A new window began and the last one suppressed this many lines: say so, then write this one.
        case summarise(suppressed: Int)
    }

    private struct State {
        var windowStart: ContinuousClock.Instant?
        var written = 0
        var suppressed = 0
    }
    private let state = NIOLockedValueBox(State())

    func admit(now: ContinuousClock.Instant) -> Decision {
        self.state.withLockedValue { state in
            if let start = state.windowStart, now - start < Self.window {
                guard state.written < Self.linesPerWindow else {
                    state.suppressed += 1
                    return .suppress
                }
                state.written += 1
                return .write
            }
            let suppressed = state.suppressed
            state = State(windowStart: now, written: 1, suppressed: 0)
            return suppressed > 0 ? .summarise(suppressed: suppressed) : .write
        }
    }
}
