// The Telegram bot (SPEC §7): alerts in a chat the owner linked, and three commands from that chat only —
// /status (bots, open orders, PnL), /kill (the account kill switch, after a current TOTP code sent as the next
// message within two minutes) and /unlink. Nothing else can be done from Telegram; a chat that is not linked can
// only link itself (`/start <code>`). Updates come by long polling (getUpdates), one poller per bot token, or, with
// TRADEKEEP_TELEGRAM_WEBHOOK_SECRET, on a webhook that checks Telegram's secret-token header.

import Accounts
import AuditLog
import Bots
import Crypto
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

final class TelegramBot: Service, Sendable {
    let client: TelegramClient
    /// Set: updates arrive on POST /api/v1/telegram/webhook with this secret token, and nothing polls.
    let webhookSecret: String?
    let store: TelegramStore
    let bots: BotService
    let stepUp: StepUp
    let now: @Sendable () -> Date
    let logger: Logger
    /// Chats that sent /kill, and until when their code is awaited.
    private let pendingKills = Mutex<[Int64: Date]>([:])
    static let killWindow: TimeInterval = 120
    static let linkLifetime: TimeInterval = 600
    static let clientInfo = ClientInfo(ip: nil, userAgent: "telegram")

    init(
        client: TelegramClient,
        webhookSecret: String? = nil,
        store: TelegramStore,
        bots: BotService,
        stepUp: StepUp,
        now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.client = client
        self.webhookSecret = webhookSecret
        self.store = store
        self.bots = bots
        self.stepUp = stepUp
        self.now = now
        self.logger = logger
    }

    // MARK: Linking

    /// A single-use code (10 minutes) for the signed-in user to send to the bot as `/start <code>`.
    func linkCode(for userID: UUID) async throws -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        let code = String((0..<12).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
        try await self.store.createLinkCode(userID: userID, codeHash: Self.hash(code), expiresAt: self.now().addingTimeInterval(Self.linkLifetime))
        return code
    }

    func isLinked(_ userID: UUID) async throws -> Bool {
        try await !self.store.chats(of: [userID]).isEmpty
    }

    static func hash(_ code: String) -> String {
        SHA256.hash(data: Data(code.uppercased().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Updates

    func run() async throws {
        if self.webhookSecret != nil {
            // Webhook mode: Telegram brings the updates; nothing to do until shutdown.
            try? await gracefulShutdown()
            return
        }
        var offset: Int64?
        while !Task.isCancelledOrShuttingDown {
            do {
                let from = offset
                let updates = try await cancelWhenGracefulShutdown { try await self.client.updates(offset: from, timeout: 25) }
                for update in updates {
                    offset = update.updateId + 1
                    await self.handle(update)
                }
            } catch is CancellationError {
                return
            } catch {
                self.logger.warning("telegram updates not read; retried", metadata: ["error": .string(String(describing: error))])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            }
        }
    }

    func handle(_ update: TelegramClient.Update) async {
        guard let message = update.message, let text = message.text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return }
        let chat = message.chat.id
        let reply: String
        do {
            reply = try await self.answer(text, chat: chat)
        } catch {
            self.logger.error("telegram command failed", metadata: ["error": .string(String(describing: error))])
            reply = "Something went wrong and nothing was done. Try again later, or use the dashboard."
        }
        do {
            try await self.client.send(chatID: chat, text: reply)
        } catch {
            self.logger.warning("telegram reply not sent", metadata: ["error": .string(String(describing: error))])
        }
    }

    static let help = "Commands: /status (bots, open orders, PnL), /kill (stop every bot and cancel every open order; asks for a code), /unlink."

    func answer(_ text: String, chat: Int64) async throws -> String {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        // "/kill@SomeBot" in groups: the command without the bot's name.
        let command = words.first.map { String($0.split(separator: "@").first ?? $0).lowercased() } ?? ""
        if command == "/start" {
            guard words.count == 2 else {
                return "Send /start <code> with a code from Tradekeep (dashboard → Alerts, or POST /api/v1/notifications/telegram/link)."
            }
            let now = self.now()
            let linked = try await self.store.link(codeHash: Self.hash(String(words[1])), chatID: chat, now: now) { user in
                AuditEvent(.telegramLinked, user: user, client: Self.clientInfo, at: now)
            }
            guard linked != nil else { return "That code is unknown, already used or expired. Make a new one in Tradekeep." }
            return "Linked: alerts of your Tradekeep account come to this chat. " + Self.help
        }
        guard let user = try await self.store.user(chatID: chat) else {
            self.pendingKills.withLock { _ = $0.removeValue(forKey: chat) }
            return "This chat is not linked to a Tradekeep account. Send /start <code> with a code from Tradekeep."
        }
        if let deadline = self.pendingKills.withLock({ $0.removeValue(forKey: chat) }) {
            return try await self.kill(user: user, code: text, deadline: deadline)
        }
        switch command {
        case "/status": return try await self.status(user)
        case "/kill":
            self.pendingKills.withLock { $0[chat] = self.now().addingTimeInterval(Self.killWindow) }
            return "To stop every bot and cancel every open order, send the current 6-digit code from your authenticator app within 2 minutes."
        case "/unlink":
            let now = self.now()
            _ = try await self.store.unlink(chatID: chat) { user in AuditEvent(.telegramUnlinked, user: user, client: Self.clientInfo, at: now) }
            return "Unlinked: alerts no longer come to this chat."
        default: return Self.help
        }
    }

    /// The message after /kill: a current TOTP code (checked like a step-up: once, counted towards the lockout).
    func kill(user: UUID, code: String, deadline: Date) async throws -> String {
        guard deadline > self.now(), code.count == 6, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else {
            return "Nothing was done: /kill needs the current 6-digit code as the next message, within 2 minutes. Send /kill to start again."
        }
        do {
            try await self.stepUp.verify(Identity(userID: user, sessionID: UUID(), role: .user), code: code, client: Self.clientInfo)
        } catch {
            return "That code was not accepted (wrong, expired or already used). Nothing was done."
        }
        do {
            let summary = try await self.bots.killSwitch(owner: user, closePositions: false, client: Self.clientInfo)
            let failed = summary.failed.isEmpty ? "" : " \(summary.failed.count) cancels failed: check the dashboard."
            return "Kill switch done: \(summary.bots) bots stopped, \(summary.cancelled) open orders cancelled.\(failed)"
        } catch {
            return "The kill switch ran, but not every bot could be confirmed stopped: check the dashboard now. (\(error))"
        }
    }

    func status(_ user: UUID) async throws -> String {
        let bots = try await self.bots.bots(owner: user)
        let open = try await self.bots.orders(owner: user, openOnly: true)
        guard !bots.isEmpty else { return "No bots." }
        var lines: [String] = []
        var total = Decimal(0)
        for bot in bots {
            let pnl = await self.bots.pnl(bot)
            total += pnl
            let orders = open.filter { $0.botID == bot.id }.count
            lines.append("\(bot.name) (\(bot.strategy.rawValue), \(bot.symbol)): \(bot.status.rawValue), \(orders) open orders, PnL \(pnl)")
        }
        return lines.joined(separator: "\n") + "\nOpen orders: \(open.count). Total PnL: \(total)."
    }
}
