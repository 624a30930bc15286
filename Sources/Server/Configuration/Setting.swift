// Every configuration setting, with its variable name, flag, and documentation line.

import Venues

/// One setting. It has a single name: the environment variable `TRADEKEEP_…`, the same name in the config
/// file, and (for most) a command-line flag. docs/CONFIGURATION.md documents each one; a test checks that.
public struct Setting: Hashable, Sendable {
    public let name: String
    public let flag: String?
    /// Secrets are never accepted as flags (they would show in `ps`) and a config file holding one must be 0600.
    public let isSecret: Bool

    init(_ name: String, flag: String? = nil, secret: Bool = false) {
        self.name = name
        self.flag = flag
        self.isSecret = secret
    }

    public static let environment = Setting("TRADEKEEP_ENV", flag: "env")
    public static let dataDirectory = Setting("TRADEKEEP_DATA_DIR", flag: "data-dir")
    public static let configFile = Setting("TRADEKEEP_CONFIG", flag: "config")
    public static let host = Setting("TRADEKEEP_HOST", flag: "host")
    public static let port = Setting("TRADEKEEP_PORT", flag: "port")
    public static let databaseURL = Setting("TRADEKEEP_DATABASE_URL", secret: true)
    public static let tlsCertificate = Setting("TRADEKEEP_TLS_CERT", flag: "tls-cert")
    public static let tlsKey = Setting("TRADEKEEP_TLS_KEY", flag: "tls-key")
    public static let behindTLSProxy = Setting("TRADEKEEP_BEHIND_TLS_PROXY", flag: "behind-tls-proxy")
    public static let publicURL = Setting("TRADEKEEP_PUBLIC_URL", flag: "public-url")
    public static let securityContact = Setting("TRADEKEEP_SECURITY_CONTACT")
    public static let logLevel = Setting("TRADEKEEP_LOG_LEVEL", flag: "log-level")
    public static let logFormat = Setting("TRADEKEEP_LOG_FORMAT", flag: "log-format")
    public static let accessTokenTTL = Setting("TRADEKEEP_ACCESS_TOKEN_TTL")
    public static let hibp = Setting("TRADEKEEP_HIBP")
    public static let hibpURL = Setting("TRADEKEEP_HIBP_URL")
    public static let mailFrom = Setting("TRADEKEEP_MAIL_FROM")
    public static let smtpURL = Setting("TRADEKEEP_SMTP_URL", secret: true)
    public static let smtpCAFile = Setting("TRADEKEEP_SMTP_CA_FILE")
    public static let smtpAllowPlaintext = Setting("TRADEKEEP_SMTP_ALLOW_PLAINTEXT")
    public static let telegramBotToken = Setting("TRADEKEEP_TELEGRAM_BOT_TOKEN", secret: true)
    public static let telegramAPIURL = Setting("TRADEKEEP_TELEGRAM_API_URL")
    public static let telegramWebhookSecret = Setting("TRADEKEEP_TELEGRAM_WEBHOOK_SECRET", secret: true)
    public static let vaultCacheTTL = Setting("TRADEKEEP_VAULT_CACHE_TTL")
    /// May carry a PKCS#11 PIN, hence secret.
    public static let kek = Setting("TRADEKEEP_KEK", secret: true)
    public static let jwtSecret = Setting("TRADEKEEP_JWT_SECRET", secret: true)
    public static let auditSigningKey = Setting("TRADEKEEP_AUDIT_SIGNING_KEY", secret: true)
    public static let backupKey = Setting("TRADEKEEP_BACKUP_KEY", secret: true)
    public static let localKEK = Setting("TRADEKEEP_LOCAL_KEK", secret: true)
    public static let egressIPs = Setting("TRADEKEEP_EGRESS_IPS")
    public static let ipAllowlist = Setting("TRADEKEEP_IP_ALLOWLIST")
    public static let unverifiedVenues = Setting("TRADEKEEP_UNVERIFIED_VENUES")
    public static let paperFeed = Setting("TRADEKEEP_PAPER_FEED")
    public static let paperVolatility = Setting("TRADEKEEP_PAPER_VOLATILITY")
    public static let paperTick = Setting("TRADEKEEP_PAPER_TICK")
    public static let paperStartingBalance = Setting("TRADEKEEP_PAPER_STARTING_BALANCE")
    public static let paperMakerFee = Setting("TRADEKEEP_PAPER_MAKER_FEE")
    public static let paperTakerFee = Setting("TRADEKEEP_PAPER_TAKER_FEE")
    public static let botInterval = Setting("TRADEKEEP_BOT_INTERVAL")
    public static let maxBotsPerUser = Setting("TRADEKEEP_MAX_BOTS_PER_USER")
    public static let maxRunningBotsPerUser = Setting("TRADEKEEP_MAX_RUNNING_BOTS_PER_USER")
    public static let priceBand = Setting("TRADEKEEP_PRICE_BAND_PCT")
    public static let rateLimitLogin = Setting("TRADEKEEP_RATE_LIMIT_LOGIN")
    public static let rateLimitRegister = Setting("TRADEKEEP_RATE_LIMIT_REGISTER")
    public static let rateLimitGeneral = Setting("TRADEKEEP_RATE_LIMIT_GENERAL")
    public static let rateLimitWebhook = Setting("TRADEKEEP_RATE_LIMIT_WEBHOOK")
    public static let allowRaisedRateLimits = Setting("TRADEKEEP_ALLOW_RAISED_RATE_LIMITS")
    public static let passwordHashQueue = Setting("TRADEKEEP_PASSWORD_HASH_QUEUE")
    public static let auditCheckpointInterval = Setting("TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL")
    public static let auditOrigin = Setting("TRADEKEEP_AUDIT_ORIGIN")
    public static let auditWitnesses = Setting("TRADEKEEP_AUDIT_WITNESSES")
    public static let anomalyInterval = Setting("TRADEKEEP_ANOMALY_INTERVAL")
    public static let anomalyRapidFireOpens = Setting("TRADEKEEP_ANOMALY_RAPID_FIRE_OPENS")
    public static let anomalyNewIPDays = Setting("TRADEKEEP_ANOMALY_NEW_IP_DAYS")
    public static let anomalyStuffingAccounts = Setting("TRADEKEEP_ANOMALY_STUFFING_ACCOUNTS")
    public static let anomalyStuffingIPs = Setting("TRADEKEEP_ANOMALY_STUFFING_IPS")
    public static let anomalyRejectedKeys = Setting("TRADEKEEP_ANOMALY_REJECTED_KEYS")

    /// TRADEKEEP_VENUE_<ID>_BASE_URL: where the venue's API is (testnets, proxies, test fakes).
    public static func venueBaseURL(_ venue: VenueID) -> Setting { Setting("TRADEKEEP_VENUE_\(venue.environmentName)_BASE_URL") }
    /// TRADEKEEP_VENUE_<ID>_TESTNET: the venue's testnet (default URL, and signing where it differs).
    public static func venueTestnet(_ venue: VenueID) -> Setting { Setting("TRADEKEEP_VENUE_\(venue.environmentName)_TESTNET") }
    static let venueSettings: [Setting] = VenueID.allCases.filter { $0 != .paper }.map(venueBaseURL) + VenueDirectory.testnetCapable.map(venueTestnet)

    public static let all: [Setting] =
        [
            .environment, .dataDirectory, .configFile, .host, .port, .databaseURL, .tlsCertificate, .tlsKey,
            .behindTLSProxy, .publicURL, .securityContact, .logLevel, .logFormat,
            .accessTokenTTL, .hibp, .hibpURL, .mailFrom, .smtpURL, .smtpCAFile, .smtpAllowPlaintext, .telegramBotToken, .telegramAPIURL,
            .telegramWebhookSecret,
            .vaultCacheTTL, .kek,
            .jwtSecret, .auditSigningKey, .backupKey, .localKEK, .egressIPs, .ipAllowlist, .unverifiedVenues,
            .paperFeed, .paperVolatility, .paperTick, .paperStartingBalance, .paperMakerFee, .paperTakerFee, .botInterval,
            .maxBotsPerUser, .maxRunningBotsPerUser, .priceBand, .rateLimitLogin, .rateLimitRegister, .rateLimitGeneral,
            .rateLimitWebhook, .allowRaisedRateLimits, .passwordHashQueue, .auditCheckpointInterval, .auditOrigin, .auditWitnesses,
            .anomalyInterval, .anomalyRapidFireOpens, .anomalyNewIPDays, .anomalyStuffingAccounts, .anomalyStuffingIPs, .anomalyRejectedKeys,
        ] + venueSettings

    public static func named(_ name: String) -> Setting? { all.first { $0.name == name } }
}
