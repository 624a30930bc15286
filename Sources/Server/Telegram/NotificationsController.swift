// POST /api/v1/notifications/telegram/link: a single-use code (10 minutes) the signed-in user sends to the bot as
// `/start <code>` to link that chat to their account.

import Foundation
import HTTPTypes
import Hummingbird

struct NotificationsController {
    let telegram: TelegramBot?

    func addRoutes(to signedIn: RouterGroup<AuthenticatedContext>) {
        signedIn.post("/notifications/telegram/link", use: self.link)
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
