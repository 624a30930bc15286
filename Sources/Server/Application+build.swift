// Assembles the Tradekeep application: database, middleware, controllers, server channel.

import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOSSL
import Storage
import Vault

/// Build the application from a prepared configuration. `tradekeep serve` and the tests both use this.
public func buildApplication(_ prepared: PreparedServer, logger: Logger) throws -> some ApplicationProtocol {
    try buildApplication(prepared, logger: logger, extraRoutes: { _ in })
}

/// `extraRoutes` lets tests add a route to the real application (to provoke a 500, say).
func buildApplication(
    _ prepared: PreparedServer,
    logger: Logger,
    extraRoutes: (Router<AppRequestContext>) -> Void
) throws -> Application<RouterResponder<AppRequestContext>> {
    let configuration = prepared.configuration
    let database = try TradekeepDatabase(location: configuration.database)
    let router = try buildRouter(configuration, database: database)
    extraRoutes(router)

    var app = Application(
        router: router,
        server: try serverBuilder(configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        services: [database.databases],
        onServerRunning: { channel in
            logger.info("listening", metadata: [
                "address": .string(channel.localAddress?.description ?? "unknown"),
                "port": .stringConvertible(channel.localAddress?.port ?? 0),
                "tls": .stringConvertible(configuration.tls != nil),
            ])
        },
        logger: logger
    )
    let keyringID = prepared.secrets.keyring.id
    app.beforeServerStarts {
        try await database.migrate(logger: logger)
        try await database.bind(toKeyring: keyringID, logger: logger)
    }
    return app
}

func buildRouter(_ configuration: ServerConfiguration, database: TradekeepDatabase) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    // Middleware applies only to routes added after it, and to the not-found responder: add it first.
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: configuration.servesHTTPS))
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: APIAccessGate(publicRoutes: []))

    HealthController(database: database).addRoutes(to: router)
    WellKnownController(
        contact: configuration.securityContact,
        canonicalURL: configuration.publicURL.appendingPathComponent(".well-known/security.txt")
    ).addRoutes(to: router)
    try OpenAPIController().addRoutes(to: router)
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
