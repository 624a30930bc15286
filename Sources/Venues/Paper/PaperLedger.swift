// Where the paper venue keeps its state: live state to continue from, each change as rows, closed orders archived.

/// The paper venue's persistence. The exchange holds live state in memory; the ledger holds what survives a restart:
/// prices, wallets, every order (closed ones as an archive) and the counters, written change by change.
public protocol PaperLedger: Sendable {
    /// The live state to continue from: prices, wallets, open orders, counters. Nil before anything was saved.
    func load() async throws -> PaperSnapshot?

    /// Write one change set, all of it or nothing.
    func save(_ changes: PaperChanges) async throws

    /// The newest saved order the account placed with this client order id (the venue asks for orders that have left
    /// memory, which are closed). Nil if there is none.
    func archivedOrder(account: String, clientOrderID: String) async throws -> PaperOrder?
}
