// `tradekeep witness serve`: a small C2SP tlog-witness a user runs on another machine. It generates its key on first
// start (0600 in its data folder), keeps the latest cosigned checkpoint per origin in a state file, and answers
// `POST /add-checkpoint` with a cosignature/v1 line, checking and persisting atomically.

import AuditLog
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Vault

public enum WitnessServer {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The witness (key created on first start) and its state file.
    public static func prepare(dataDirectory: URL, name: String, logs: [String]) throws -> (witness: Witness, state: WitnessState) {
        guard NoteVerifierKey.isValidName(Substring(name)) else { throw Failure(description: "--name must have no spaces or plus signs") }
        var keys: [NoteVerifierKey] = []
        for log in logs {
            guard let split = log.firstIndex(of: "="), let key = NoteVerifierKey(String(log[log.index(after: split)...])),
                key.name == String(log[..<split])
            else { throw Failure(description: "--log \(log): expected ORIGIN=VKEY, the vkey of the log's key named ORIGIN") }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw Failure(description: "give at least one --log ORIGIN=VKEY") }
        _ = try SecureFile.ensureDirectory(dataDirectory)
        let keyFile = dataDirectory.appendingPathComponent("witness.key")
        if !SecureFile.exists(keyFile) {
            try SecureFile.write(Curve25519.Signing.PrivateKey().rawRepresentation.map { $0 }, to: keyFile)
        }
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: try SecureFile.read(keyFile))
        let witness = Witness(name: name, key: key, logs: keys)
        return (witness, try WitnessState(file: dataDirectory.appendingPathComponent("witness-state.json")))
    }

    /// The witness's HTTP application.
    public static func application(
        witness: Witness,
        state: WitnessState,
        host: String,
        port: Int,
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.post("/add-checkpoint") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            let answer = try state.add(String(buffer: body), witness: witness)
            logger.info("add-checkpoint", metadata: ["status": .stringConvertible(answer.status)])
            return Response(
                status: HTTPResponse.Status(code: answer.status),
                headers: [.contentType: answer.contentType],
                body: .init(byteBuffer: ByteBuffer(string: answer.body))
            )
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                // The port actually bound (`--port 0` picks one), in the same line `tradekeep serve` writes.
                logger.info("listening", metadata: ["port": .stringConvertible(channel.localAddress?.port ?? 0)])
            },
            logger: logger
        )
    }
}

/// The latest cosigned checkpoint per origin, on disk. Checking a request and persisting its result happen under
/// one lock, so two racing requests can never roll the state back.
public final class WitnessState: Sendable {
    let file: URL
    private let logs: Mutex<[String: WitnessLog]>

    struct Stored: Codable {
        var size: UInt64
        var root: String
    }

    init(file: URL) throws {
        self.file = file
        var loaded: [String: WitnessLog] = [:]
        if SecureFile.exists(file) {
            let stored = try JSONDecoder().decode([String: Stored].self, from: Data(try SecureFile.read(file)))
            for (origin, log) in stored {
                guard let root = Data(base64Encoded: log.root), root.count == RFC6962.hashSize else {
                    throw WitnessServer.Failure(description: "\(file.path): the state for \(origin) is damaged")
                }
                loaded[origin] = WitnessLog(size: log.size, root: Array(root))
            }
        }
        self.logs = Mutex(loaded)
    }

    public var current: [String: WitnessLog] { self.logs.withLock { $0 } }

    func add(_ body: String, witness: Witness) throws -> Witness.Answer {
        try self.logs.withLock { logs in
            let answer = witness.addCheckpoint(body, state: logs, time: UInt64(Date().timeIntervalSince1970))
            guard let update = answer.update else { return answer }
            var next = logs
            next[update.origin] = update.log
            let stored = next.mapValues { Stored(size: $0.size, root: Data($0.root).base64EncodedString()) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            // Persisted before answering: a cosignature is never given for a state that could be lost.
            try SecureFile.write(Array(try encoder.encode(stored)), to: self.file, overwrite: true)
            logs = next
            return answer
        }
    }
}
