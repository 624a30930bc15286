// A timer as an AsyncSequence over an injected clock, so periodic services are tested by advancing a test clock.

/// Yields once per `interval`. A round that overruns its slot is followed at once by the next, without bursts to
/// catch up. Ends when the waiting task is cancelled (`cancelOnGracefulShutdown()` ends it between rounds).
public struct PeriodicTimer<C: Clock>: AsyncSequence, Sendable where C.Duration == Duration {
    public typealias Element = C.Instant

    let interval: Duration
    let clock: C

    public init(interval: Duration, clock: C) {
        self.interval = interval
        self.clock = clock
    }

    public func makeAsyncIterator() -> Iterator { Iterator(interval: self.interval, clock: self.clock, deadline: self.clock.now) }

    public struct Iterator: AsyncIteratorProtocol {
        let interval: Duration
        let clock: C
        var deadline: C.Instant

        public mutating func next() async -> C.Instant? {
            self.deadline = self.deadline.advanced(by: self.interval)
            let now = self.clock.now
            if self.deadline < now { self.deadline = now }
            do {
                try await self.clock.sleep(until: self.deadline, tolerance: nil)
            } catch {
                return nil
            }
            return self.clock.now
        }
    }
}
