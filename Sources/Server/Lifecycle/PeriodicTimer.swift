// A timer as an AsyncSequence over an injected clock: periodic services loop over it, tests advance a test clock.

/// Yields once per `interval`, counted from when the previous element was taken (so work in the loop body never
/// overlaps the next round); ends when the iterating task is cancelled.
struct PeriodicTimer: AsyncSequence, Sendable {
    typealias Element = Void

    let interval: Duration
    let clock: any Clock<Duration>

    struct AsyncIterator: AsyncIteratorProtocol {
        let interval: Duration
        let clock: any Clock<Duration>

        mutating func next() async -> Void? {
            do {
                try await self.clock.sleep(for: self.interval)
            } catch {
                return nil
            }
            return ()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(interval: self.interval, clock: self.clock) }
}
