// Assembles the Tradekeep application: database, middleware, controllers, server channel.

import Accounts
import AuditLog
import Bots
import Foundation
import Guard
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOPosix
import NIOSSL
import Storage
import Vault
import Venues

/// Build the application from a prepared configuration. `tradekeep serve` and the tests both use this.
public func buildApplication(_ prepared: PreparedServer, logger: Logger) async throws -> some ApplicationProtocol {
    try await buildApplicationParts(prepared, logger: logger).application
}

/// The application and the parts tests look inside.
struct ApplicationParts {
    let application: Application<CanonicalResponder<RouterResponder<AppRequestContext>>>
    let router: Router<AppRequestContext>
    let database: TradekeepDatabase
    let auth: AuthService
    let bots: BotService
    let credentials: CredentialService
    let vault: Envelope
    let paper: any Venue
    let auditLog: AuditLogPublisher
    let live: LiveUpdates
    let alerts: AlertService
    let scanner: AnomalyScanner
    let telegram: TelegramBot?
}

/// `extraRoutes` lets tests add a route to the real application (to provoke a 500, say); `auditWriter` and
/// `venueDecorator` let them fail audit writes or slow a venue down.
func buildApplicationParts(
    _ prepared: PreparedServer,
    logger: Logger,
    clock: @escaping @Sendable () -> Date = { Date() },
    auditWriter: any AuditWriter = PendingAuditWriter(),
    venueDecorator: @escaping @Sendable (any Venue) -> any Venue = { $0 },
    extraRoutes: (Router<AppRequestContext>) -> Void = { _ in }
) async throws -> ApplicationParts {
    let configuration = prepared.configuration
    let database = try TradekeepDatabase(location: configuration.database, auditWriter: auditWriter)
    let jobs = BackgroundJobs(logger: logger)
    let mailer = outboxMailer(configuration, logger: logger)
    let vault = try makeVault(prepared, database: database, logger: logger)
    let secrets = SecretStore(database: database, envelope: vault, logger: logger)
    let audit = DatabaseAuditSink(database: database, logger: logger)
    let startup = StartupGate()
    let paper = PaperTrading(configuration: configuration, database: database, logger: logger)
    let directory = VenueDirectory(baseURLs: configuration.venueBaseURLs, testnets: configuration.venueTestnets)
    let venues = TradingVenues(paper: venueDecorator(paper.venue), directory: directory)
    let credentialStore = CredentialStore(database: database, secrets: secrets, logger: logger)
    let botStore = BotStore(database: database, logger: logger)
    let engine = BotEngine(
        bots: botStore,
        credentials: credentialStore,
        venues: venues,
        configuration: EngineConfiguration(interval: configuration.botInterval, priceBand: configuration.priceBand),
        now: clock,
        logger: logger
    )
    // A key disabled by its re-check stops its bots and alerts its owner: both are made below, so the credential
    // service is told through a handler set once they exist.
    let keyDisabled = KeyDisabledHandler()
    let credentials = CredentialService(
        repository: credentialStore,
        directory: directory,
        policy: KeyPolicy(
            egressIPs: configuration.egressIPs,
            ipAllowlist: configuration.ipAllowlist,
            unverifiedVenues: configuration.unverifiedVenues
        ),
        audit: audit,
        keysChanged: { engine.forgetKeys(credentialID: $0) },
        usage: { id, owner in try await botStore.bots(userID: owner).filter { $0.credentialID == id }.count },
        disabled: { await keyDisabled.handle($0, reason: $1) },
        logger: logger,
        now: clock
    )
    let bots = BotService(
        bots: botStore,
        credentials: credentialStore,
        engine: engine,
        venues: venues,
        limits: configuration.botLimits,
        audit: audit,
        keyCheck: { try await credentials.checkBeforeUse(id: $0, owner: $1) },
        logger: logger,
        now: clock
    )
    let auth = try await makeAuthService(prepared, database: database, secrets: secrets, trading: bots, jobs: jobs, logger: logger, clock: clock)
    let auditLog = AuditLogPublisher(
        store: AuditLogStore(database: database, logger: logger),
        key: prepared.secrets.auditSigningKey,
        origin: auditOrigin(prepared),
        checkpointInterval: configuration.auditCheckpointInterval,
        witnesses: configuration.auditWitnesses,
        mail: HighImpactMail(
            mailer: mailer,
            logger: logger
        ),
        logger: logger,
        now: clock
    )
    let alertStore = AlertStore(database: database, logger: logger)
    let telegramLinks = TelegramStore(database: database, logger: logger)
    let telegramClient = configuration.telegram.map { TelegramClient(baseURL: $0.apiURL, token: $0.token) }
    let alerts = AlertService(
        store: alertStore,
        mailer: try alertMailer(configuration, logger: logger),
        telegram: telegramClient.map { ($0, telegramLinks) },
        logger: logger,
        now: clock
    )
    let live = LiveUpdates(tickets: MemoryTicketStore(), bots: bots, alerts: alerts, logger: logger, now: clock)
    keyDisabled.set { record, reason in
        let stopped = try? await bots.stopBots(
            usingCredential: record.id,
            owner: record.userID,
            reason: "Stopped: its exchange key was disabled. \(reason)"
        )
        await alerts.keyDisabled(record, reason: reason, stoppedBots: stopped?.bots ?? 0)
    }
    let telegram = telegramClient.map {
        TelegramBot(
            client: $0,
            webhookSecret: configuration.telegram?.webhookSecret,
            store: telegramLinks,
            bots: bots,
            stepUp: auth.stepUp,
            now: clock,
            logger: logger
        )
    }
    let scanner = AnomalyScanner(
        source: alertStore,
        reporter: alerts,
        thresholds: configuration.anomalyThresholds,
        interval: configuration.anomalyInterval,
        now: clock,
        logger: logger
    )
    let router = try buildRouter(
        configuration,
        secrets: prepared.secrets,
        database: database,
        auth: auth,
        bots: bots,
        credentials: credentials,
        venues: venues,
        auditLog: auditLog,
        live: live,
        alerts: alerts,
        scanner: scanner,
        telegram: telegram,
        clock: clock
    )
    extraRoutes(router)

    var app = Application(
        responder: CanonicalResponder(base: router.buildResponder()),
        server: try serverBuilder(configuration, live: live, auth: auth),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        services: [
            database.databases, jobs, AfterStartup(gate: startup, service: paper), AfterStartup(gate: startup, service: engine),
            AfterStartup(gate: startup, service: scanner), AfterStartup(gate: startup, service: alerts),
            AfterStartup(gate: startup, service: KeyRechecker(credentials: credentials, now: clock, logger: logger)),
            AfterStartup(
                gate: startup,
                service: AuditLogService(
                    publisher: auditLog,
                    wakeUps: database.auditCommits,
                    // PostgreSQL: other instances' entries need a poll. SQLite has one writer (this process, which
                    // is woken by its own commits), so it only wakes for checkpoints falling due.
                    poll: configuration.database.isPostgres ? .seconds(1) : max(.seconds(1), configuration.auditCheckpointInterval)
                )
            ),
        ],
        onServerRunning: { channel in
            logger.info(
                "listening",
                metadata: [
                    "address": .string(channel.localAddress?.description ?? "unknown"),
                    "port": .stringConvertible(channel.localAddress?.port ?? 0),
                    "tls": .stringConvertible(configuration.tls != nil),
                ]
            )
        },
        logger: logger
    )
    // Nothing that uses the database runs before migrations and the paper venue's restore are done.
    app.beforeServerStarts {
        try await prepareDatabase(prepared, database: database, vault: vault, logger: logger)
        try await paper.restore()
        startup.open()
    }
    if let relay = try outboxRelay(configuration, logger: logger) { app.addServices(relay) }
    if let telegram { app.addServices(AfterStartup(gate: startup, service: telegram)) }
    return ApplicationParts(
        application: app,
        router: router,
        database: database,
        auth: auth,
        bots: bots,
        credentials: credentials,
        vault: vault,
        paper: venues.paper,
        auditLog: auditLog,
        live: live,
        alerts: alerts,
        scanner: scanner,
        telegram: telegram
    )
}

/// Migrations, the keyring binding, and the first KEK version; then the vault loads the version table.
func prepareDatabase(_ prepared: PreparedServer, database: TradekeepDatabase, vault: Envelope, logger: Logger) async throws {
    try await database.migrate(logger: logger)
    try await database.bind(toKeyring: prepared.secrets.keyring.id, logger: logger)
    let configured = configuredKEK(prepared)
    if configured.provider == "aws-kms", let kms = vault.provider("aws-kms") as? AWSKMSProvider {
        // A missing or disabled key stops start-up here, before any secret could be sealed under it.
        try await kms.checkKey(configured.key)
    }
    let versions = try await VaultStore(database: database, logger: logger).ensureInitialVersion(configuredKEK(prepared))
    _ = try await vault.currentVersions(refresh: true)
    if let current = versions.references[versions.current], current.provider != configuredKEK(prepared).provider {
        logger.warning(
            "vault",
            metadata: [
                "finding": .string(
                    "TRADEKEEP_KEK names \(configuredKEK(prepared).provider) but the vault's current KEK is \(current); run `tradekeep vault migrate --to` to move"
                )
            ]
        )
    }
}

/// The KEK that TRADEKEEP_KEK configures, as a version-table reference.
func configuredKEK(_ prepared: PreparedServer) -> KEKReference {
    kekReference(prepared.configuration.kek, keyring: prepared.secrets.keyring)
}

func kekReference(_ kek: KEKConfiguration, keyring: LocalKeyring) -> KEKReference {
    switch kek {
    case .local: KEKReference(provider: "local", key: String(keyring.currentVersion))
    case .awsKMS(let key, _, _): KEKReference(provider: "aws-kms", key: key)
    case .pkcs11(let location): KEKReference(provider: "pkcs11", key: location.object)
    }
}

/// The provider for a TRADEKEEP_KEK value other than `local` (which is always present).
func makeKEKProvider(_ kek: KEKConfiguration, configuration: ServerConfiguration) throws -> (any KeyEncryptionKeyProvider)? {
    switch kek {
    case .local:
        return nil
    case .awsKMS(_, let region, let endpoint):
        guard let credentials = configuration.awsCredentials, let region = region ?? configuration.awsRegion else {
            throw ConfigurationError(Setting.kek.name, "aws-kms needs AWS credentials and a region")
        }
        return AWSKMSProvider(region: region, endpoint: endpoint, credentials: credentials)
    case .pkcs11(let location):
        do {
            return try PKCS11Provider(location: location)
        } catch let error as PKCS11Error {
            throw ConfigurationError(Setting.kek.name, error.description)
        }
    }
}

/// The vault: the local keyring, the configured KEK provider, and the version table as source of truth.
func makeVault(_ prepared: PreparedServer, database: TradekeepDatabase, logger: Logger, extra: [any KeyEncryptionKeyProvider] = []) throws -> Envelope
{
    let store = VaultStore(database: database, logger: logger)
    var providers: [any KeyEncryptionKeyProvider] = [LocalKEKProvider(keyring: prepared.secrets.keyring, file: prepared.secrets.keyringFile)]
    if let configured = try makeKEKProvider(prepared.configuration.kek, configuration: prepared.configuration) { providers.append(configured) }
    providers.append(contentsOf: extra)
    return Envelope(
        providers: providers,
        versions: KEKVersions(current: 0, references: [:]),
        versionSource: { try await store.versions() },
        cacheLifetime: prepared.configuration.dataKeyCacheLifetime
    )
}

func makeAuthService(
    _ prepared: PreparedServer,
    database: TradekeepDatabase,
    secrets: SecretStore,
    trading: (any TradingStop)?,
    jobs: BackgroundJobs,
    logger: Logger,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> AuthService {
    let configuration = prepared.configuration
    let store = AccountStore(database: database, secrets: secrets, logger: logger)
    let factor = SecondFactor(
        store: store,
        hasher: PasswordHasher(cost: configuration.bcryptCost, executor: HashingExecutor(queueLimit: configuration.passwordHashQueue)),
        audit: DatabaseAuditSink(database: database, logger: logger),
        mailer: outboxMailer(configuration, logger: logger),
        sessions: SessionCache(),
        trading: trading,
        logger: logger,
        now: clock
    )
    return AuthService(
        store: store,
        factor: factor,
        accessTokens: await AccessTokens(key: prepared.secrets.jwtKey, lifetime: configuration.accessTokenTTL, clock: clock),
        commonPasswords: try CommonPasswords.bundled(),
        pwned: configuration.hibpEnabled
            ? PwnedPasswords(
                baseURL: configuration.hibpURL,
                timeout: .nanoseconds(
                    configuration.hibpTimeout.components.seconds * 1_000_000_000 + configuration.hibpTimeout.components.attoseconds / 1_000_000_000
                )
            )
            : nil,
        jobs: jobs,
        publicURL: configuration.publicURL,
        logger: logger
    )
}

func buildRouter(
    _ configuration: ServerConfiguration,
    secrets: ServerSecrets,
    database: TradekeepDatabase,
    auth: AuthService,
    bots: BotService,
    credentials: CredentialService,
    venues: TradingVenues,
    auditLog: AuditLogPublisher,
    live: LiveUpdates,
    alerts: AlertService,
    scanner: AnomalyScanner,
    telegram: TelegramBot?,
    clock: @escaping @Sendable () -> Date = { Date() }
) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let webKeys = WebSessionKeys(jwtKey: secrets.jwtKey)
    let publicOrigin = origin(of: configuration.publicURL)
    // Middleware applies only to routes added after it, and to the not-found responder: add it first.
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: configuration.servesHTTPS))
    router.add(middleware: ClientAddressMiddleware(trustForwardedFor: configuration.behindTLSProxy))
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(
        middleware: AuthenticationMiddleware(
            auth: auth,
            web: WebCookieAuthentication(keys: webKeys, publicOrigin: publicOrigin, servesHTTPS: configuration.servesHTTPS)
        )
    )
    router.add(middleware: RateLimitMiddleware(store: InMemoryRateLimitStore(), limits: configuration.rateLimits, now: clock))
    router.add(middleware: APIAccessGate())

    HealthController(database: database).addRoutes(to: router)
    WellKnownController(
        contact: configuration.securityContact,
        canonicalURL: configuration.publicURL.appendingPathComponent(".well-known/security.txt")
    ).addRoutes(to: router)
    try OpenAPIController().addRoutes(to: router)

    // Public routes are the ones on `api`; everything on `signedIn` answers 401 to anonymous callers.
    let api = router.group("/api/v1")
    let signedIn = api.group(context: AuthenticatedContext.self)
    let stepUp = auth.stepUp
    AuthController(auth: auth, stepUp: stepUp, publicOrigin: publicOrigin).addRoutes(public: api, signedIn: signedIn)
    AdminController(auth: auth, bots: bots, stepUp: stepUp).addRoutes(to: signedIn)
    VenuesController(credentials: credentials, venues: venues, stepUp: stepUp).addRoutes(to: signedIn)
    BotsController(bots: bots, stepUp: stepUp).addRoutes(public: api, signedIn: signedIn)
    AuditController(publisher: auditLog).addRoutes(public: router, signedIn: signedIn)
    LiveController(live: live).addRoutes(public: api, signedIn: signedIn)
    AlertsController(alerts: alerts, scanner: scanner, stepUp: stepUp).addRoutes(to: signedIn)
    NotificationsController(telegram: telegram).addRoutes(public: api, signedIn: signedIn)
    DashboardController(
        auth: auth,
        bots: bots,
        credentials: credentials,
        venues: venues,
        auditLog: auditLog,
        live: live,
        alerts: alerts,
        telegram: telegram,
        keys: webKeys,
        views: try Views(),
        publicURL: configuration.publicURL,
        servesHTTPS: configuration.servesHTTPS
    ).addRoutes(to: router)
    return router
}

/// Plain HTTP/1.1 (embedded, or behind a TLS proxy) with the dashboard's WebSocket upgrade when `live` is given;
/// with a certificate, TLS with HTTP/2 (where the dashboard falls back to polling: no WebSocket over HTTP/2 yet).
func serverBuilder(_ configuration: ServerConfiguration, live: LiveUpdates? = nil, auth: AuthService? = nil) throws -> HTTPServerBuilder {
    let headers = configuration.servesHTTPS
    guard let tls = configuration.tls else {
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [SecurityHeadersChannelHandler(strictTransportSecurity: headers)])
        guard let live, let auth else { return .http1(configuration: http1) }
        let isLive: @Sendable (Identity) async -> Bool = { identity in
            (try? await auth.authenticate(sessionID: identity.sessionID, userID: identity.userID, client: ClientInfo(ip: nil, userAgent: nil)))
                != nil
        }
        return HTTPServerBuilder { responder in
            WebSocketServerChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: .init(http1: http1)) { head, _, _ in
                    await live.shouldUpgrade(head, isLive: isLive)
                },
                strictTransportSecurity: headers
            )
        }
    }
    let certificates: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    do {
        certificates = try NIOSSLCertificate.fromPEMFile(tls.certificate.path)
    } catch {
        throw ConfigurationError(Setting.tlsCertificate.name, "cannot read a PEM certificate chain from \(tls.certificate.path): \(error)")
    }
    do {
        key = try NIOSSLPrivateKey(file: tls.privateKey.path, format: .pem)
    } catch {
        throw ConfigurationError(Setting.tlsKey.name, "cannot read a PEM private key from \(tls.privateKey.path): \(error)")
    }
    var tlsConfiguration = TLSConfiguration.makeServerConfiguration(
        certificateChain: certificates.map { .certificate($0) },
        privateKey: .privateKey(key)
    )
    tlsConfiguration.minimumTLSVersion = .tlsv12
    // HTTP/2 is negotiated with ALPN; HTTP/1.1 stays available for clients without it.
    return try .http2Upgrade(
        tlsConfiguration: tlsConfiguration,
        configuration: .init(streamConfiguration: .init(additionalChannelHandlers: [SecurityHeadersChannelHandler(strictTransportSecurity: headers)]))
    )
}

/// The process-wide logger factory: redacting, one line per event.
public func bootstrapLogging(level: Logger.Level, format: LogFormat) {
    LoggingSystem.bootstrap { label in
        RedactingLogHandler(label: label, level: level, format: format)
    }
}

/// `scheme://host[:port]` as browsers send it in the Origin header.
func origin(of url: URL) -> String {
    var text = "\(url.scheme ?? "http")://\(url.host ?? "localhost")"
    if let port = url.port, !((url.scheme == "https" && port == 443) || (url.scheme == "http" && port == 80)) { text += ":\(port)" }
    return text
}
