// The Telegram Bot API (https://core.telegram.org/bots/api) on AsyncHTTPClient: getUpdates (long polling) and
// sendMessage, JSON in and out. The token is part of every URL, so no URL, and no error that could quote one, is
// ever logged or returned: errors name the method and Telegram's own description only.

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

struct TelegramClient: Sendable {
    let baseURL: String
    let token: String
    let http: HTTPClient

    init(baseURL: String, token: String, http: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.http = http
    }

    struct Failure: Error, CustomStringConvertible {
        let method: String
        let reason: String
        var description: String { "Telegram \(self.method) failed: \(self.reason)" }
    }

    struct Chat: Decodable, Sendable {
        let id: Int64
    }

    struct Message: Decodable, Sendable {
        let chat: Chat
        let text: String?
    }

    struct Update: Decodable, Sendable {
        let updateId: Int64
        let message: Message?
    }

    private struct Answer<Result: Decodable>: Decodable {
        let ok: Bool
        let result: Result?
        let description: String?
    }

    struct Sent: Decodable {
        let messageId: Int64
    }

    /// Updates after `offset`, waiting up to `timeout` seconds for one (long polling).
    func updates(offset: Int64?, timeout: Int) async throws -> [Update] {
        var body: [String: Any] = ["timeout": timeout, "allowed_updates": ["message"]]
        if let offset { body["offset"] = offset }
        return try await self.call("getUpdates", body, deadline: .seconds(Int64(timeout) + 10), as: [Update].self)
    }

    func send(chatID: Int64, text: String) async throws {
        _ = try await self.call("sendMessage", ["chat_id": chatID, "text": text], deadline: .seconds(15), as: Sent.self)
    }

    private func call<Result: Decodable>(
        _ method: String,
        _ body: [String: Any],
        deadline: TimeAmount,
        as resultType: Result.Type
    ) async throws -> Result {
        var request = HTTPClientRequest(url: "\(self.baseURL)/bot\(self.token)/\(method)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await self.http.execute(request, timeout: deadline)
            data = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw Failure(method: method, reason: "not reachable (\(type(of: error)))")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let answer = try? decoder.decode(Answer<Result>.self, from: Data(buffer: data)) else {
            throw Failure(method: method, reason: "HTTP \(response.status.code) without the Bot API's answer")
        }
        guard answer.ok, let result = answer.result else {
            let text = (answer.description ?? "HTTP \(response.status.code)").replacingOccurrences(of: self.token, with: "…")
            throw Failure(method: method, reason: String(text.prefix(200)))
        }
        return result
    }
}
