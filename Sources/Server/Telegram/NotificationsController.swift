// POST /api/v1/notifications/telegram/link: a single-use code (10 minutes) the signed-in user sends to the bot as
// `/start <code>` to link that chat to their account.

import Foundation
import HTTPTypes
import Hummingbird
import NIOFoundationCompat
import Vault

struct NotificationsController {
    let telegram: TelegramBot?

    func addRoutes(public api: RouterGroup<AppRequestContext>, signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.post("/notifications/telegram/link", use: self.link)
        api.post("/telegram/webhook", use: self.webhook)
    }

    /// Telegram's webhook (only with TRADEKEEP_TELEGRAM_WEBHOOK_SECRET; 404 otherwise): the update is handled only
    /// when X-Telegram-Bot-Api-Secret-Token carries the configured secret (compared in constant time).
    @Sendable func webhook(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let telegram = self.telegram, let secret = telegram.webhookSecret else { throw APIError.notFound("There is no Telegram webhook here.") }
        let given = request.headers[HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!] ?? ""
        guard ConstantTime.equals(Array(given.utf8), Array(secret.utf8)) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "The webhook's secret token is missing or wrong.")
        }
        let body = try await request.body.collect(upTo: 64 * 1024)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let update = try? decoder.decode(TelegramClient.Update.self, from: Data(buffer: body)) else {
            throw APIError.badRequest("The body is not a Telegram Update.")
        }
        await telegram.handle(update)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
    }

    struct Link: ResponseEncodable {
        let linkCode: String
        let expiresIn: Int
    }

    @Sendable func link(_ request: Request, context: AuthenticatedContext) async throws -> Link {
        guard let telegram = self.telegram else {
            throw APIError(.conflict, code: "telegram_not_configured", message: "This server has no Telegram bot (TRADEKEEP_TELEGRAM_BOT_TOKEN).")
        }
        return Link(linkCode: try await telegram.linkCode(for: context.identity.userID), expiresIn: Int(TelegramBot.linkLifetime))
    }
}
