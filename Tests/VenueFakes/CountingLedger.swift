// A paper ledger wrapper for tests: counts the rows of each save, and can fail saves or hold the next one.

import Venues

/// Wraps a ledger: records the rows of each save, and can fail saves or hold the next one.
public actor CountingLedger: PaperLedger {
    public let base: any PaperLedger
    public private(set) var rowsPerSave: [Int] = []
    private var failure: (any Error)?
    private var holding = false
    private var hasStarted = false
    private var released = false
    private var started: [CheckedContinuation<Void, Never>] = []
    private var held: [CheckedContinuation<Void, Never>] = []

    public init(_ base: any PaperLedger) { self.base = base }

    public func load() async throws -> PaperSnapshot? { try await self.base.load() }

    public func save(_ changes: PaperChanges) async throws {
        if self.holding {
            self.holding = false
            self.hasStarted = true
            for waiter in self.started { waiter.resume() }
            self.started = []
            if !self.released { await withCheckedContinuation { self.held.append($0) } }
        }
        if let failure = self.failure { throw failure }
        try await self.base.save(changes)
        self.rowsPerSave.append(changes.rowCount)
    }

    public func archivedOrder(account: String, clientOrderID: String) async throws -> PaperOrder? {
        try await self.base.archivedOrder(account: account, clientOrderID: clientOrderID)
    }

    public func fail(with error: (any Error)?) { self.failure = error }

    /// The next save waits, once started, until `release()`.
    public func holdNextSave() {
        self.holding = true
        self.hasStarted = false
        self.released = false
    }

    /// Returns once the held save has started.
    public func saveStarted() async {
        guard !self.hasStarted else { return }
        await withCheckedContinuation { self.started.append($0) }
    }

    public func release() {
        self.released = true
        for waiter in self.held { waiter.resume() }
        self.held = []
    }
}
