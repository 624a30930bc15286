// One lock per bot, held around every order sent and every change of its status: a kill, a risk stop or a halt
// waits for the send in flight, and no send starts after it.

import Foundation
import Synchronization

/// A FIFO async mutex. Waiting is not cancellable: whoever waits for a bot's lock holds a decision that must happen.
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await self.lock()
        defer { self.unlock() }
        return try await body()
    }

    private func lock() async {
        let acquired = self.state.withLock { state -> Bool in
            if state.locked { return false }
            state.locked = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let handedOver = self.state.withLock { state -> Bool in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if handedOver { continuation.resume() }
        }
    }

    private func unlock() {
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            // Ownership passes straight to the first waiter: nobody can barge in between.
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// The locks of every bot this process has acted on.
final class BotLocks: Sendable {
    private let locks = Mutex([UUID: AsyncLock]())

    func lock(_ bot: UUID) -> AsyncLock {
        self.locks.withLock { locks in
            if let lock = locks[bot] { return lock }
            let lock = AsyncLock()
            locks[bot] = lock
            return lock
        }
    }

    func withLock<T: Sendable>(_ bot: UUID, _ body: () async throws -> T) async rethrows -> T {
        try await self.lock(bot).withLock(body)
    }

    /// A deleted bot's lock goes (anyone still holding it keeps a valid reference).
    func forget(_ bot: UUID) {
        _ = self.locks.withLock { $0.removeValue(forKey: bot) }
    }
}
