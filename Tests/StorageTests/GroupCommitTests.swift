// The engine's group commit: writes arriving together share a transaction, and one failing write fails only itself.

import Foundation
import Logging
import SQLKit
import Testing

@testable import Storage

@Suite struct GroupCommitTests {
    struct Refused: Error {}

    @Test("60 writes at once: each answers its own value, the one that fails throws and leaves nothing, the others all commit")
    func oneFailureFailsOnlyItself() async throws {
        let database = try TradekeepDatabase(location: .sqliteMemory)
        let logger = Logger(label: "group-commit-test")
        try await database.transaction(logger: logger) { try await $0.sql.raw("CREATE TABLE writes (n INTEGER PRIMARY KEY)").run() }
        let commits = GroupCommit(database: database, logger: logger)
        let failing = 13

        let outcomes = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            for n in 0..<60 {
                group.addTask {
                    do {
                        let value = try await commits.run { transaction in
                            try await transaction.sql.raw("INSERT INTO writes (n) VALUES (\(bind: n))").run()
                            if n == failing { throw Refused() }  // after its insert: the insert must not survive
                            return n * 2
                        }
                        return (n, .success(value))
                    } catch {
                        return (n, .failure(error))
                    }
                }
            }
            return await group.reduce(into: [Int: Result<Int, any Error>]()) { $0[$1.0] = $1.1 }
        }

        #expect(outcomes.count == 60)
        for (n, outcome) in outcomes {
            switch outcome {
            case .success(let value):
                #expect(n != failing && value == n * 2)
            case .failure(let error):
                #expect(n == failing && error is Refused, "write \(n): \(error)")
            }
        }
        let stored = try await database.transaction(logger: logger) { transaction in
            try await transaction.sql.raw("SELECT n FROM writes ORDER BY n").all().map { try $0.decode(column: "n", as: Int.self) }
        }
        #expect(stored == (0..<60).filter { $0 != failing })
        await database.shutdown()
    }
}
