// Loads and saves the paper venue's snapshot (a single row, replaced on every save).

import FluentKit
import Foundation
import Logging
import SQLKit

public struct PaperStateStore: Sendable {
    let database: TradekeepDatabase
    let logger: Logger

    public init(database: TradekeepDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func sql() throws -> any SQLDatabase { try self.database.database(logger: self.logger) as! any SQLDatabase }

    /// The saved snapshot's JSON, if any.
    public func load() async throws -> Data? {
        try await self.sql().select().column("snapshot").from("paper_state").where("id", .equal, 1).first()
            .map { Data(try $0.decode(column: "snapshot", as: String.self).utf8) }
    }

    /// Replace the saved snapshot (insert or update, one statement per database kind).
    public func save(_ json: Data, now: Date = Date()) async throws {
        let text = String(decoding: json, as: UTF8.self)
        try await self.sql().insert(into: "paper_state").columns("id", "snapshot", "updated_at").values(SQLBind(1), SQLBind(text), SQLBind(now))
            .onConflict(with: "id") { $0.set("snapshot", to: text).set("updated_at", to: now) }.run()
    }
}
