// Who sends what. Account mail is always written to the outbox folder (a request never waits for a mail server,
// and an unsent message survives a crash); with TRADEKEEP_SMTP_URL an `OutboxRelay` sends it on. Alert deliveries
// keep their own retries and records, so they go over SMTP directly when it is configured.

import Foundation
import Guard
import Logging

func outboxMailer(_ configuration: ServerConfiguration, logger: Logger) -> OutboxMailer {
    OutboxMailer(directory: configuration.dataDirectory.appendingPathComponent("outbox"), sender: configuration.mailFrom, logger: logger)
}

func alertMailer(_ configuration: ServerConfiguration, logger: Logger) throws -> any Mailer {
    if let smtp = configuration.smtp { return try SMTPMailer(configuration: smtp, sender: configuration.mailFrom, logger: logger) }
    return outboxMailer(configuration, logger: logger)
}

/// The relay for the outbox, when SMTP is configured.
func outboxRelay(_ configuration: ServerConfiguration, logger: Logger) throws -> OutboxRelay? {
    guard let smtp = configuration.smtp else { return nil }
    return OutboxRelay(
        directory: configuration.dataDirectory.appendingPathComponent("outbox"),
        smtp: try SMTPMailer(configuration: smtp, sender: configuration.mailFrom, logger: logger),
        logger: logger
    )
}
