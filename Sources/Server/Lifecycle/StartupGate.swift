// Start-up ordering: services that touch the database wait until migrations and restores are done.
// `beforeServerStarts` opens the gate; `AfterStartup` runs a service only once it is open.

import ServiceLifecycle
import Synchronization

/// A one-shot signal: `wait()` returns once `open()` has been called (at once if it already was).
final class StartupGate: Sendable {
    private enum State {
        case closed([UInt64: CheckedContinuation<Void, any Error>], next: UInt64)
        case open
    }

    private let state = Mutex(State.closed([:], next: 0))

    func open() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .closed(let waiters, _) = state else { return [] }
            state = .open
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the gate opens; throws `CancellationError` if the waiting task is cancelled first.
    func wait() async throws {
        let id = self.state.withLock { state -> UInt64? in
            guard case .closed(let waiters, let next) = state else { return nil }
            state = .closed(waiters, next: next + 1)
            return next
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = self.state.withLock { state in
                    switch state {
                    case .open:
                        return .success(())
                    case .closed(var waiters, let next):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[id] = continuation
                        state = .closed(waiters, next: next)
                        return nil
                    }
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard case .closed(var waiters, let next) = state, let waiter = waiters.removeValue(forKey: id) else { return nil }
                state = .closed(waiters, next: next)
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// Runs `service` once start-up has completed; a shutdown before then ends it without running it.
struct AfterStartup<S: Service>: Service, CustomStringConvertible {
    let gate: StartupGate
    let service: S

    var description: String { "AfterStartup<\(S.self)>" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await self.gate.wait() }
        } catch is CancellationError {
            return
        }
        try await self.service.run()
    }
}
