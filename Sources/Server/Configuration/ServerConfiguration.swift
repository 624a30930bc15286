// The server's typed configuration, resolved from the layered sources with a clear error per bad value.

import Accounts
import AuditLog
import Bots
import Foundation
import Guard
import Logging
import Storage
import Vault
import Venues

public enum RunEnvironment: String, Sendable, CaseIterable {
    case development
    case production
}

public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

public struct TLSFiles: Sendable, Equatable {
    public var certificate: URL
    public var privateKey: URL
}

public struct ServerConfiguration: Sendable {
    public var environment: RunEnvironment
    public var dataDirectory: URL
    public var host: String
    public var port: Int
    public var database: DatabaseLocation
    public var tls: TLSFiles?
    public var behindTLSProxy: Bool
    /// The address users reach the server at (security.txt Canonical, links in mail).
    public var publicURL: URL
    public var securityContact: String
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Where the config file, if any, was read from (its permissions are checked in production).
    public var configFile: URL?
    /// Access-token lifetime in seconds (SPEC §2: 15 minutes by default, at most 60).
    public var accessTokenTTL: TimeInterval
    /// Consult the Have I Been Pwned range API on registration and password changes.
    public var hibpEnabled: Bool
    public var hibpURL: String
    /// The From address of outgoing mail.
    public var mailFrom: String
    /// Where mail goes (TRADEKEEP_SMTP_URL); nil: the outbox folder.
    public var smtp: SMTPConfiguration?
    /// The Telegram bot (TRADEKEEP_TELEGRAM_BOT_TOKEN, TRADEKEEP_TELEGRAM_API_URL); nil: no Telegram.
    public var telegram: (token: String, apiURL: String, webhookSecret: String?)?
    /// bcrypt cost. Not a setting: 12 in every deployment; tests lower it to keep the suite fast.
    public var bcryptCost: UInt8 = 12
    /// Where the key-encryption key lives (TRADEKEEP_KEK).
    public var kek: KEKConfiguration
    /// AWS credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, for `aws-kms`.
    public var awsCredentials: AWSCredentials?
    /// AWS_REGION or AWS_DEFAULT_REGION, when the KMS key does not name its region.
    public var awsRegion: String?
    /// How long an unwrapped data key stays cached (TRADEKEEP_VAULT_CACHE_TTL; 0 disables the cache).
    public var dataKeyCacheLifetime: Duration
    /// How long a Have I Been Pwned lookup may take before registration goes on without it.
    public var hibpTimeout: Duration = .seconds(3)
    /// The platform's published outbound addresses, which exchange keys must be locked to.
    public var egressIPs: [String]
    public var ipAllowlist: KeyPolicy.IPAllowlistMode
    public var venueBaseURLs: [VenueID: String]
    public var venueTestnets: Set<VenueID>
    public var unverifiedVenues: Set<VenueID>
    public enum PaperFeed: Sendable, Equatable {
        case random
        case csv(path: String)
    }
    public var paperFeed: PaperFeed
    /// Per-step volatility of the random walk (standard deviation of the log return).
    public var paperVolatility: Double
    public var paperTick: Duration
    public var paper: PaperConfiguration
    /// How often the engine steps every running bot.
    public var botInterval: Duration
    /// Longest time between the audit log growing and a checkpoint covering it (TRADEKEEP_AUDIT_CHECKPOINT_INTERVAL).
    public var auditCheckpointInterval: Duration
    /// The audit log's origin line (TRADEKEEP_AUDIT_ORIGIN); nil: derived from the public URL, else the instance.
    public var auditOrigin: String?
    /// Witnesses that cosign each checkpoint (TRADEKEEP_AUDIT_WITNESSES: `URL vkey` pairs, comma-separated).
    public var auditWitnesses: [AuditWitness]
    /// How often the anomaly scanner reads the audit log (TRADEKEEP_ANOMALY_INTERVAL, seconds).
    public var anomalyInterval: Duration
    /// The anomaly rules' thresholds (TRADEKEEP_ANOMALY_*).
    public var anomalyThresholds: AnomalyThresholds
    /// How many bots one user may have, and run (TRADEKEEP_MAX_BOTS_PER_USER, TRADEKEEP_MAX_RUNNING_BOTS_PER_USER).
    public var botLimits: BotLimits
    /// How far (a fraction) a limit price may be on the wrong side of the market (TRADEKEEP_PRICE_BAND_PCT, in percent).
    public var priceBand: Decimal
    /// Requests per minute (TRADEKEEP_RATE_LIMIT_*); production refuses values above the defaults unless
    /// TRADEKEEP_ALLOW_RAISED_RATE_LIMITS is set.
    public var rateLimits: RateLimits
    public var allowRaisedRateLimits: Bool
    /// Password hashes admitted at once, running or waiting (TRADEKEEP_PASSWORD_HASH_QUEUE); beyond it, 503.
    public var passwordHashQueue: Int

    /// Whether clients reach this server over HTTPS (directly or through the TLS proxy).
    public var servesHTTPS: Bool { self.tls != nil || self.behindTLSProxy }

    public static let defaultDataDirectory = "./tradekeep-data"
    public static let databaseFileName = "tradekeep.sqlite"

    public init(_ sources: ConfigurationSources) throws {
        func parse<T>(_ setting: Setting, default defaultValue: T, _ transform: (String) -> T?, expected: String) throws -> T {
            guard let raw = sources.value(setting) else { return defaultValue }
            guard let value = transform(raw) else {
                throw ConfigurationError(setting.name, "'\(setting.isSecret ? "…" : raw)' is not valid; expected \(expected)")
            }
            return value
        }
        let choices = { (names: [String]) in names.joined(separator: " or ") }

        self.environment = try parse(
            .environment,
            default: .development,
            { RunEnvironment(rawValue: $0.lowercased()) },
            expected: choices(RunEnvironment.allCases.map(\.rawValue))
        )
        let dataPath = sources.value(.dataDirectory) ?? Self.defaultDataDirectory
        guard !dataPath.isEmpty else { throw ConfigurationError(Setting.dataDirectory.name, "must not be empty") }
        self.dataDirectory = URL(fileURLWithPath: dataPath).standardizedFileURL
        self.host = sources.value(.host) ?? "127.0.0.1"
        self.port = try parse(
            .port,
            default: 8080,
            { Int($0).flatMap { (0...65535).contains($0) ? $0 : nil } },
            expected: "a port number 0-65535 (0 picks a free port)"
        )
        if let url = sources.value(.databaseURL) {
            do {
                self.database = try DatabaseLocation(url: url)
            } catch let error as DatabaseURLError {
                throw ConfigurationError(Setting.databaseURL.name, error.message)
            }
        } else {
            self.database = .sqliteFile(path: self.dataDirectory.appendingPathComponent(Self.databaseFileName).path)
        }
        switch (sources.value(.tlsCertificate), sources.value(.tlsKey)) {
        case (nil, nil):
            self.tls = nil
        case (let cert?, let key?):
            self.tls = TLSFiles(certificate: URL(fileURLWithPath: cert), privateKey: URL(fileURLWithPath: key))
        case (nil, _):
            throw ConfigurationError(Setting.tlsCertificate.name, "--tls-key was given without --tls-cert; give both or neither")
        case (_, nil):
            throw ConfigurationError(Setting.tlsKey.name, "--tls-cert was given without --tls-key; give both or neither")
        }
        self.behindTLSProxy = try parse(.behindTLSProxy, default: false, Self.parseBool, expected: "true or false")
        let scheme = self.tls != nil || self.behindTLSProxy ? "https" : "http"
        let defaultPublic = "\(scheme)://\(self.host.contains(":") ? "[\(self.host)]" : self.host):\(self.port)"
        self.publicURL = try parse(
            .publicURL,
            default: URL(string: defaultPublic)!,
            { text in
                URL(string: text).flatMap { ["http", "https"].contains($0.scheme ?? "") && $0.host != nil ? $0 : nil }
            },
            expected: "an absolute http(s) URL such as https://trade.example.com"
        )
        self.securityContact = sources.value(.securityContact) ?? "mailto:security@\(self.publicURL.host ?? "localhost")"
        guard self.securityContact.hasPrefix("mailto:") || self.securityContact.hasPrefix("https://") || self.securityContact.hasPrefix("tel:") else {
            throw ConfigurationError(Setting.securityContact.name, "must be a mailto:, https:// or tel: URI (RFC 9116)")
        }
        self.logLevel = try parse(
            .logLevel,
            default: .info,
            { Logger.Level(rawValue: $0.lowercased()) },
            expected: choices(Logger.Level.allCases.map(\.rawValue))
        )
        self.logFormat = try parse(
            .logFormat,
            default: .text,
            { LogFormat(rawValue: $0.lowercased()) },
            expected: choices(LogFormat.allCases.map(\.rawValue))
        )
        self.configFile = sources.fileURL
        self.accessTokenTTL = try parse(
            .accessTokenTTL,
            default: 900,
            { Double($0).flatMap { (60...3600).contains($0) ? $0 : nil } },
            expected: "seconds between 60 and 3600 (SPEC §2: at most 60 minutes)"
        )
        self.hibpEnabled = try parse(.hibp, default: false, Self.parseBool, expected: "on or off")
        self.hibpURL = try parse(
            .hibpURL,
            default: "https://api.pwnedpasswords.com",
            { text in
                URL(string: text).flatMap { ["http", "https"].contains($0.scheme ?? "") && $0.host != nil ? text : nil }
            },
            expected: "an http(s) URL"
        )
        self.dataKeyCacheLifetime = .seconds(
            try parse(
                .vaultCacheTTL,
                default: 300,
                { Int($0).flatMap { (0...3600).contains($0) ? $0 : nil } },
                expected: "seconds between 0 and 3600"
            )
        )
        do {
            self.kek = try sources.value(.kek).map(KEKConfiguration.init) ?? .local
        } catch let error as KEKConfiguration.ParseError {
            throw ConfigurationError(Setting.kek.name, error.message)
        }
        self.awsCredentials = AWSCredentials.fromEnvironment(sources.environment)
        self.awsRegion = sources.environment["AWS_REGION"] ?? sources.environment["AWS_DEFAULT_REGION"]
        if case .awsKMS(_, let region, _) = self.kek, region == nil, self.awsRegion == nil {
            throw ConfigurationError(Setting.kek.name, "aws-kms needs a region: ?region=<region>, an ARN, or AWS_REGION")
        }
        if case .awsKMS = self.kek, self.awsCredentials == nil {
            throw ConfigurationError(Setting.kek.name, "aws-kms needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        self.mailFrom = sources.value(.mailFrom) ?? "Tradekeep <tradekeep@\(self.publicURL.host ?? "localhost")>"
        if let url = sources.value(.smtpURL) {
            let smtp: SMTPConfiguration
            do {
                smtp = try SMTPConfiguration(
                    url: url,
                    caFile: sources.value(.smtpCAFile).map { URL(fileURLWithPath: $0) },
                    heloName: self.publicURL.host ?? "localhost"
                )
            } catch {
                throw ConfigurationError(Setting.smtpURL.name, error.description)
            }
            let allowPlaintext = try parse(.smtpAllowPlaintext, default: false, { ["true": true, "false": false][$0] }, expected: "true or false")
            if smtp.security == .plain, !smtp.isLoopback, !allowPlaintext {
                throw ConfigurationError(
                    Setting.smtpURL.name,
                    "smtp:// sends mail (and any password) unencrypted; use smtps:// or smtp+starttls://, or set TRADEKEEP_SMTP_ALLOW_PLAINTEXT=true for a relay on a trusted network"
                )
            }
            if let caFile = smtp.caFile, !FileManager.default.isReadableFile(atPath: caFile.path) {
                throw ConfigurationError(Setting.smtpCAFile.name, "\(caFile.path) cannot be read")
            }
            self.smtp = smtp
        } else {
            self.smtp = nil
        }
        if let token = sources.value(.telegramBotToken) {
            // The Bot API's tokens are `<bot id>:<secret>`.
            guard token.contains(":"), token.count >= 20, token.count <= 100, !token.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                throw ConfigurationError(Setting.telegramBotToken.name, "is not a Bot API token (<bot id>:<secret>, from @BotFather)")
            }
            let apiURL = try parse(
                .telegramAPIURL,
                default: "https://api.telegram.org",
                { text in URL(string: text).flatMap { $0.scheme == "https" || $0.scheme == "http" ? text : nil } },
                expected: "an http(s) URL"
            )
            // Telegram's secret_token: 1–256 of A–Z, a–z, 0–9, _ and -. Set, updates come by webhook instead of polling.
            let webhookSecret = try sources.value(.telegramWebhookSecret).map { secret in
                guard (16...256).contains(secret.count), secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
                else {
                    throw ConfigurationError(
                        Setting.telegramWebhookSecret.name,
                        "must be 16–256 characters of A–Z, a–z, 0–9, _ and - (Telegram's secret_token)"
                    )
                }
                return secret
            }
            self.telegram = (token, apiURL, webhookSecret)
        } else {
            self.telegram = nil
        }
        self.egressIPs = try parse(.egressIPs, default: [], Self.parseAddressList, expected: "a comma-separated list of IP addresses")
        self.ipAllowlist = try parse(
            .ipAllowlist,
            default: .required,
            { KeyPolicy.IPAllowlistMode(rawValue: $0.lowercased()) },
            expected: choices(KeyPolicy.IPAllowlistMode.allCases.map(\.rawValue))
        )
        var baseURLs: [VenueID: String] = [:]
        for venue in VenueID.allCases where venue != .paper {
            guard let text = sources.value(.venueBaseURL(venue)) else { continue }
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil else {
                throw ConfigurationError(
                    Setting.venueBaseURL(venue).name,
                    "expected an http(s) URL such as \(VenueDirectory.defaultBaseURL(venue, testnet: false) ?? "https://…"), got '\(text)'"
                )
            }
            baseURLs[venue] = text
        }
        self.venueBaseURLs = baseURLs
        var testnets: Set<VenueID> = []
        for venue in VenueDirectory.testnetCapable where try parse(.venueTestnet(venue), default: false, Self.parseBool, expected: "true or false") {
            testnets.insert(venue)
        }
        self.venueTestnets = testnets
        var unverified: Set<VenueID> = []
        for name in (sources.value(.unverifiedVenues) ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !name.isEmpty {
            // Only testnets without key introspection qualify: a mainnet key is always checked with the venue.
            guard let venue = VenueID(rawValue: name), VenueDirectory.noIntrospectionOnTestnet.contains(venue), testnets.contains(venue) else {
                throw ConfigurationError(
                    Setting.unverifiedVenues.name,
                    "'\(name)' cannot skip key verification: only binance or binance-usdm on their testnet (TRADEKEEP_VENUE_BINANCE_TESTNET / TRADEKEEP_VENUE_BINANCE_USDM_TESTNET=true) can"
                )
            }
            unverified.insert(venue)
        }
        self.unverifiedVenues = unverified
        let feed = sources.value(.paperFeed) ?? "random"
        if feed == "random" {
            self.paperFeed = .random
        } else if feed.hasPrefix("csv:") {
            let path = String(feed.dropFirst(4))
            do { _ = try CSVFeed(path: path) } catch { throw ConfigurationError(Setting.paperFeed.name, "\(error)") }
            self.paperFeed = .csv(path: path)
        } else {
            throw ConfigurationError(Setting.paperFeed.name, "expected random or csv:<path of an OHLCV file>, got '\(feed)'")
        }
        self.paperVolatility = try parse(
            .paperVolatility,
            default: 0.001,
            { Double($0).flatMap { (0...0.2).contains($0) ? $0 : nil } },
            expected: "a per-step volatility between 0 and 0.2"
        )
        self.paperTick = .milliseconds(
            Int64(
                1000
                    * (try parse(
                        .paperTick,
                        default: 1.0,
                        { Double($0).flatMap { (0.05...60).contains($0) ? $0 : nil } },
                        expected: "seconds between 0.05 and 60"
                    ))
            )
        )
        var paper = PaperConfiguration()
        let decimal = { (range: ClosedRange<Decimal>) in
            { (text: String) -> Decimal? in
                Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")).flatMap { range.contains($0) ? $0 : nil }
            }
        }
        paper.startingQuote = try parse(
            .paperStartingBalance,
            default: 10_000,
            decimal(1...1_000_000_000),
            expected: "a USDT amount between 1 and 1e9"
        )
        paper.makerFee = try parse(
            .paperMakerFee,
            default: Decimal(string: "0.001")!,
            decimal(0...Decimal(string: "0.01")!),
            expected: "a fee rate between 0 and 0.01"
        )
        paper.takerFee = try parse(
            .paperTakerFee,
            default: Decimal(string: "0.001")!,
            decimal(0...Decimal(string: "0.01")!),
            expected: "a fee rate between 0 and 0.01"
        )
        self.paper = paper
        self.botInterval = .milliseconds(
            Int64(
                1000
                    * (try parse(
                        .botInterval,
                        default: 1.0,
                        { Double($0).flatMap { (0.05...60).contains($0) ? $0 : nil } },
                        expected: "seconds between 0.05 and 60"
                    ))
            )
        )
        self.auditCheckpointInterval = .milliseconds(
            Int64(
                1000
                    * (try parse(
                        .auditCheckpointInterval,
                        default: 60.0,
                        { Double($0).flatMap { (0...86_400).contains($0) ? $0 : nil } },
                        expected: "seconds between 0 and 86400"
                    ))
            )
        )
        self.anomalyInterval = .seconds(
            try parse(
                .anomalyInterval,
                default: 300,
                { Int($0).flatMap { (10...86_400).contains($0) ? $0 : nil } },
                expected: "seconds between 10 and 86400"
            )
        )
        func count(_ setting: Setting, _ value: Int) throws -> Int {
            try parse(
                setting,
                default: value,
                { Int($0).flatMap { (1...100_000).contains($0) ? $0 : nil } },
                expected: "a whole number from 1 to 100000"
            )
        }
        var thresholds = AnomalyThresholds()
        thresholds.rapidFireOpens = try count(.anomalyRapidFireOpens, thresholds.rapidFireOpens)
        thresholds.newIPLookback = Double(try count(.anomalyNewIPDays, 30)) * 86_400
        thresholds.stuffingAccountsPerIP = try count(.anomalyStuffingAccounts, thresholds.stuffingAccountsPerIP)
        thresholds.stuffingIPsPerAccount = try count(.anomalyStuffingIPs, thresholds.stuffingIPsPerAccount)
        thresholds.rejectedKeys = try count(.anomalyRejectedKeys, thresholds.rejectedKeys)
        self.anomalyThresholds = thresholds
        let explicitPublicURL = sources.value(.publicURL) != nil
        self.auditOrigin = try parse(
            .auditOrigin,
            default: explicitPublicURL ? Self.auditOrigin(publicURL: self.publicURL) : nil,
            { text in
                // An origin is a note key name: no spaces, no plus signs, printable.
                !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "+" && $0.isASCII } ? text : nil
            },
            expected: "a schema-less name such as trade.example.com/audit (no spaces or plus signs)"
        )
        self.auditWitnesses = try parse(
            .auditWitnesses,
            default: [],
            AuditWitness.parseList,
            expected: "comma-separated `URL vkey` pairs, e.g. https://w.example/ w.example+1a2b3c4d+BAAA…"
        )
        let perUser = try parse(.maxBotsPerUser, default: 50, { Int($0).flatMap { (1...10_000).contains($0) ? $0 : nil } }, expected: "1 to 10000")
        self.botLimits = BotLimits(
            botsPerUser: perUser,
            runningBotsPerUser: try parse(
                .maxRunningBotsPerUser,
                default: min(20, perUser),
                { Int($0).flatMap { (1...10_000).contains($0) ? $0 : nil } },
                expected: "1 to 10000"
            )
        )
        self.priceBand =
            try parse(.priceBand, default: Decimal(5), decimal(Decimal(string: "0.1")!...50), expected: "a percentage between 0.1 and 50") / 100
        func perMinute(_ setting: Setting, _ defaultValue: RateLimit) throws -> RateLimit {
            RateLimit(
                try parse(
                    setting,
                    default: defaultValue.limit,
                    { Int($0).flatMap { (1...1_000_000).contains($0) ? $0 : nil } },
                    expected: "requests per minute, 1 to 1000000"
                ),
                per: 60
            )
        }
        self.rateLimits = RateLimits(
            login: try perMinute(.rateLimitLogin, RateLimits.defaults.login),
            register: try perMinute(.rateLimitRegister, RateLimits.defaults.register),
            general: try perMinute(.rateLimitGeneral, RateLimits.defaults.general),
            webhook: try perMinute(.rateLimitWebhook, RateLimits.defaults.webhook)
        )
        self.allowRaisedRateLimits = try parse(.allowRaisedRateLimits, default: false, Self.parseBool, expected: "true or false")
        self.passwordHashQueue = try parse(
            .passwordHashQueue,
            default: HashingExecutor.defaultQueueLimit,
            { Int($0).flatMap { (1...10_000).contains($0) ? $0 : nil } },
            expected: "1 to 10000"
        )
    }

    /// Comma-separated IPv4/IPv6 addresses; nil if any entry is not an address.
    static func parseAddressList(_ text: String) -> [String]? {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for entry in entries {
            var v4 = in_addr()
            var v6 = in6_addr()
            guard inet_pton(AF_INET, entry, &v4) == 1 || inet_pton(AF_INET6, entry, &v6) == 1 else { return nil }
        }
        return entries
    }

    static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }
}

extension ServerConfiguration {
    /// `https://trade.example.com/base` → `trade.example.com/base/audit`.
    static func auditOrigin(publicURL: URL) -> String {
        var name = publicURL.host ?? "tradekeep.invalid"
        if let port = publicURL.port { name += ":\(port)" }
        let path = publicURL.path.split(separator: "/").joined(separator: "/")
        return ([name] + (path.isEmpty ? [] : [path]) + ["audit"]).joined(separator: "/")
    }
}

/// A witness the server submits its checkpoints to.
public struct AuditWitness: Sendable, Equatable {
    public let url: URL
    public let key: CosignerKey

    static func parseList(_ text: String) -> [AuditWitness]? {
        var witnesses: [AuditWitness] = []
        for item in text.split(separator: ",") {
            let fields = item.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, let url = URL(string: String(fields[0])), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                let key = CosignerKey(String(fields[1]))
            else { return nil }
            witnesses.append(AuditWitness(url: url, key: key))
        }
        return witnesses
    }
}
