// High-impact actions are mailed to the user with their entry's index in the log, so the user can check the entry
// (GET /api/v1/audit/proof/inclusion) and notice an action they did not take.

import AuditLog
import Foundation
import Guard
import Logging
import Storage

struct HighImpactMail: Sendable {
    let mailer: any Mailer
    let logger: Logger

    /// What each high-impact action says to the user.
    static let subjects: [String: String] = [
        AuditAction.credentialAdded.rawValue: "An exchange key was added to your Tradekeep account",
        AuditAction.credentialRotated.rawValue: "An exchange key of your Tradekeep account was replaced",
        AuditAction.credentialDeleted.rawValue: "An exchange key was deleted from your Tradekeep account",
        AuditAction.credentialRejected.rawValue: "An exchange key was refused for your Tradekeep account",
        AuditAction.accountKillSwitch.rawValue: "The kill switch of your Tradekeep account was used",
        AuditAction.botKilled.rawValue: "One of your Tradekeep bots was killed",
        AuditAction.passwordChanged.rawValue: "The password of your Tradekeep account was changed",
        AuditAction.passwordReset.rawValue: "The password of your Tradekeep account was reset",
        AuditAction.totpEnrolled.rawValue: "Two-factor authentication was set up on your Tradekeep account",
        AuditAction.backupCodes.rawValue: "New backup codes were made for your Tradekeep account",
    ]

    func notify(_ entries: [SequencedEntry], store: AuditLogStore) async {
        for entry in entries {
            guard let user = entry.userID else { continue }
            do {
                var subject = Self.subjects[entry.action]
                if entry.action == AuditAction.login.rawValue {
                    // A first sign-in is not news; one from an address never seen before is.
                    let earlier = try await store.earlierLogins(userID: user, ip: entry.ip, before: entry.index)
                    if earlier.any, !earlier.fromIP { subject = "A new sign-in to your Tradekeep account" }
                }
                guard let subject, let email = try await store.email(userID: user) else { continue }
                try await self.mailer.send(MailMessage(to: email, subject: subject, body: Self.body(subject: subject, entry: entry)))
            } catch {
                self.logger.error("audit mail", metadata: ["index": .stringConvertible(entry.index), "error": .string(String(describing: error))])
            }
        }
    }

    static func body(subject: String, entry: SequencedEntry) -> String {
        """
        \(subject).

        Action: \(entry.action)
        From address: \(entry.ip ?? "none (the server itself)")
        Audit log entry: #\(entry.index)

        If this was you, there is nothing to do. If it was not, sign in, use the kill switch, change your password
        and revoke your sessions.

        Check this entry in the signed audit log: GET /api/v1/audit/proof/inclusion?index=\(entry.index)&size=<a checkpoint's size>,
        or export your log (GET /api/v1/audit/export) and run `tradekeep audit verify` on it.
        """
    }
}
