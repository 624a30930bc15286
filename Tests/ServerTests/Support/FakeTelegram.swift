// A local Telegram Bot API, written from its documentation (https://core.telegram.org/bots/api): getUpdates (long
// polling, with `offset` confirming earlier updates) and sendMessage, under /bot<token>/<method>, answering
// {"ok": true, "result": …} or {"ok": false, "error_code": …, "description": …}. Tests queue what users type and
// read what the bot sent; `down` makes every call fail.

import Foundation
import Hummingbird
import NIOConcurrencyHelpers

final class FakeTelegram: Sendable {
    let token: String

    struct Sent: Sendable, Equatable {
        let chat: Int64
        let text: String
    }

    private struct State {
        var updates: [(id: Int64, chat: Int64, text: String)] = []
        var nextUpdate: Int64 = 700_000
        var sent: [Sent] = []
        var down = false
        var polls = 0
    }

    private let state = NIOLockedValueBox(State())

    init(token: String = "123456789:AAF-\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))") {
        self.token = token
    }

    var down: Bool {
        get { self.state.withLockedValue { $0.down } }
        set { self.state.withLockedValue { $0.down = newValue } }
    }

    /// A message typed in `chat`.
    func type(_ text: String, in chat: Int64) {
        self.state.withLockedValue { state in
            state.updates.append((state.nextUpdate, chat, text))
            state.nextUpdate += 1
        }
    }

    var sent: [Sent] { self.state.withLockedValue { $0.sent } }

    /// How many getUpdates calls arrived.
    var polls: Int { self.state.withLockedValue { $0.polls } }

    /// The first message the bot sends to `chat` after `count` messages to it, within 30 s.
    func reply(in chat: Int64, after count: Int) async throws -> String {
        for _ in 0..<600 {
            let mine = self.sent.filter { $0.chat == chat }
            if mine.count > count { return mine[count].text }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FakeTelegramTimeout(chat: chat)
    }

    struct FakeTelegramTimeout: Error {
        let chat: Int64
    }

    /// Type `text` in `chat` and wait for the bot's answer.
    func ask(_ text: String, in chat: Int64) async throws -> String {
        let count = self.sent.filter { $0.chat == chat }.count
        self.type(text, in: chat)
        return try await self.reply(in: chat, after: count)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/:bot/:method") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            guard !self.down else { return Self.answer(["ok": false, "error_code": 502, "description": "Bad Gateway"], status: .badGateway) }
            guard context.parameters.get("bot") == "bot\(self.token)" else {
                return Self.answer(["ok": false, "error_code": 401, "description": "Unauthorized"], status: .unauthorized)
            }
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
            switch context.parameters.get("method") {
            case "getUpdates":
                self.state.withLockedValue { $0.polls += 1 }
                let offset = (json["offset"] as? NSNumber)?.int64Value ?? 0
                let timeout = min((json["timeout"] as? NSNumber)?.doubleValue ?? 0, 1)
                let deadline = Date().addingTimeInterval(timeout)
                while true {
                    let pending = self.state.withLockedValue { state in
                        state.updates.removeAll { $0.id < offset }
                        return state.updates
                    }
                    if !pending.isEmpty || Date() >= deadline {
                        let result: [[String: Any]] = pending.map { update in
                            [
                                "update_id": update.id,
                                "message": [
                                    "message_id": update.id, "date": Int(Date().timeIntervalSince1970),
                                    "chat": ["id": update.chat, "type": "private"], "from": ["id": update.chat, "is_bot": false, "first_name": "T"],
                                    "text": update.text,
                                ] as [String: Any],
                            ]
                        }
                        return Self.answer(["ok": true, "result": result])
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            case "sendMessage":
                guard let chat = (json["chat_id"] as? NSNumber)?.int64Value, let text = json["text"] as? String, !text.isEmpty else {
                    return Self.answer(["ok": false, "error_code": 400, "description": "Bad Request: message text is empty"], status: .badRequest)
                }
                let id = self.state.withLockedValue { state in
                    state.sent.append(Sent(chat: chat, text: text))
                    return state.sent.count
                }
                return Self.answer([
                    "ok": true,
                    "result": ["message_id": id, "date": Int(Date().timeIntervalSince1970), "chat": ["id": chat, "type": "private"], "text": text],
                ])
            default:
                return Self.answer(["ok": false, "error_code": 404, "description": "Not Found"], status: .notFound)
            }
        }
        return router
    }

    static func answer(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
        )
    }
}
