// TLS with HTTP/2: a certificate generated in the test, a real listening server, a verifying client.

import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOSSL
import Testing

@testable import Server

@Suite struct TLSTests {
    @Test("--tls-cert/--tls-key serve HTTPS, negotiate HTTP/2 and send HSTS")
    func httpsWithHTTP2() async throws {
        let certificates = try TemporaryDirectory()
        defer { certificates.remove() }
        let files = try TestCertificate.generate(in: certificates)
        let app = try TestApplication([
            Setting.tlsCertificate.name: files.certificate.path,
            Setting.tlsKey.name: files.privateKey.path,
            Setting.port.name: "0",
        ])
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(files.caCertificate.path)
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.httpVersion = .automatic
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                let response = try await http.execute(HTTPClientRequest(url: "https://localhost:\(port)/healthz"), timeout: .seconds(10))
                #expect(response.status == .ok)
                #expect(response.version == .http2)
                #expect(response.headers.first(name: "strict-transport-security") == "max-age=63072000; includeSubDomains; preload")
                let body = try await response.body.collect(upTo: 1024)
                #expect(String(buffer: body) == #"{"status":"ok"}"#)

                // HTTP/1.1 clients still work over the same listener.
                var http1Configuration = HTTPClient.Configuration(tlsConfiguration: tls)
                http1Configuration.httpVersion = .http1Only
                let http1 = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http1Configuration)
                let old = try await http1.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/healthz"), timeout: .seconds(10))
                #expect(old.status == .ok)
                #expect(old.version == .http1_1)
                try await http1.shutdown()
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    @Test("A client that does not trust the certificate is refused by the TLS handshake")
    func untrustedClientFails() async throws {
        let certificates = try TemporaryDirectory()
        defer { certificates.remove() }
        let files = try TestCertificate.generate(in: certificates)
        let other = try TestCertificate.generate(in: try TemporaryDirectory())
        let app = try TestApplication([
            Setting.tlsCertificate.name: files.certificate.path, Setting.tlsKey.name: files.privateKey.path, Setting.port.name: "0",
        ])
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(other.caCertificate.path)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            await #expect {
                _ = try await http.execute(HTTPClientRequest(url: "https://localhost:\(port)/healthz"), timeout: .seconds(3))
            } throws: { error in
                "\(error)".contains("CERTIFICATE_VERIFY_FAILED")
            }
            try await http.shutdown()
        }
    }
}
