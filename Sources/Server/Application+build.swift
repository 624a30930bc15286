// Assembles the Tradekeep application: database, middleware, controllers, server channel.

import Accounts
import Bots
import Foundation
import Guard
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
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
    let application: Application<RouterResponder<AppRequestContext>>
    let router: Router<AppRequestContext>
    let database: TradekeepDatabase
    let auth: AuthService
}

/// `extraRoutes` lets tests add a route to the real application (to provoke a 500, say).
func buildApplicationParts(
    _ prepared: PreparedServer,
    logger: Logger,
    clock: @escaping @Sendable () -> Date = { Date() },
    extraRoutes: (Router<AppRequestContext>) -> Void = { _ in }
) async throws -> ApplicationParts {
    let configuration = prepared.configuration
    let database = try TradekeepDatabase(location: configuration.database)
    let jobs = BackgroundJobs(logger: logger)
    let vault = try makeVault(prepared, database: database, logger: logger)
    let auth = try await makeAuthService(prepared, database: database, vault: vault, jobs: jobs, logger: logger, clock: clock)
    let startup = StartupGate()
    let paper = PaperTrading(configuration: configuration, database: database, logger: logger)
    let directory = VenueDirectory(
        baseURLs: configuration.venueBaseURLs,
        testnets: configuration.venueTestnets,
        unverified: configuration.unverifiedVenues
    )
    let engine = BotEngine(
        store: BotStore(database: database, logger: logger),
        credentials: CredentialStore(database: database, logger: logger),
        envelope: vault,
        directory: directory,
        paper: paper.venue,
        auth: auth,
        interval: configuration.botInterval,
        logger: logger
    )
    let router = try buildRouter(configuration, database: database, auth: auth, directory: directory, engine: engine)
    extraRoutes(router)

    var app = Application(
        router: router,
        server: try serverBuilder(configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        services: [database.databases, jobs, AfterStartup(gate: startup, service: paper), AfterStartup(gate: startup, service: engine)],
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
    app.beforeServerStarts {
        try await prepareDatabase(prepared, database: database, vault: vault, logger: logger)
        try await paper.restore()
        startup.open()
    }
    return ApplicationParts(application: app, router: router, database: database, auth: auth)
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
    vault: Envelope,
    jobs: BackgroundJobs,
    logger: Logger,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> AuthService {
    let configuration = prepared.configuration
    return AuthService(
        store: AccountStore(database: database, logger: logger),
        audit: DatabaseAuditSink(database: database, logger: logger),
        hasher: PasswordHasher(cost: configuration.bcryptCost, threadPool: .singleton),
        envelope: vault,
        accessTokens: await AccessTokens(key: prepared.secrets.jwtKey, lifetime: configuration.accessTokenTTL, clock: clock),
        commonPasswords: try CommonPasswords.bundled(),
        pwned: configuration.hibpEnabled
            ? PwnedPasswords(
                baseURL: configuration.hibpURL,
                timeout: .nanoseconds(
                    configuration.hibpTimeout.components.seconds * 1_000_000_000
                        + configuration.hibpTimeout.components.attoseconds / 1_000_000_000
                )
            )
            : nil,
        mailer: OutboxMailer(directory: configuration.dataDirectory.appendingPathComponent("outbox"), sender: configuration.mailFrom, logger: logger),
        jobs: jobs,
        sessions: SessionCache(),
        publicURL: configuration.publicURL,
        logger: logger,
        now: clock
    )
}

func buildRouter(
    _ configuration: ServerConfiguration,
    database: TradekeepDatabase,
    auth: AuthService,
    directory: VenueDirectory,
    engine: BotEngine
) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    // Middleware applies only to routes added after it, and to the not-found responder: add it first.
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: configuration.servesHTTPS))
    router.add(middleware: ClientAddressMiddleware(trustForwardedFor: configuration.behindTLSProxy))
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthenticationMiddleware(auth: auth))
    router.add(middleware: RateLimitMiddleware(store: InMemoryRateLimitStore()))
    router.add(middleware: APIAccessGate(publicRoutes: AuthController.publicRoutes.union(BotsController.publicRoutes)))

    HealthController(database: database).addRoutes(to: router)
    WellKnownController(
        contact: configuration.securityContact,
        canonicalURL: configuration.publicURL.appendingPathComponent(".well-known/security.txt")
    ).addRoutes(to: router)
    try OpenAPIController().addRoutes(to: router)
    AuthController(auth: auth, publicOrigin: origin(of: configuration.publicURL)).addRoutes(to: router)
    AdminController(auth: auth).addRoutes(to: router)
    VenuesController(
        paper: engine.paper,
        credentials: CredentialService(
            auth: auth,
            store: CredentialStore(database: database, logger: auth.logger),
            directory: directory,
            policy: KeyPolicy(egressIPs: configuration.egressIPs, ipAllowlist: configuration.ipAllowlist),
            logger: auth.logger
        )
    ).addRoutes(to: router)
    BotsController(engine: engine).addRoutes(to: router)
    return router
}

func serverBuilder(_ configuration: ServerConfiguration) throws -> HTTPServerBuilder {
    guard let tls = configuration.tls else { return .http1() }
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
    return try .http2Upgrade(tlsConfiguration: tlsConfiguration)
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
