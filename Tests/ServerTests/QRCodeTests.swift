// The enrolment page's QR encoder: Reed–Solomon on the standard's worked example, capacity limits, and every
// symbol decoded by an independent reader (rsvg-convert draws our SVG, zbarimg decodes it).

import Foundation
import InteropSupport
import Testing

@testable import Server

@Suite struct QRCodeTests {
    @Test("Reed–Solomon gives the error-correction codewords of the 1-M \"HELLO WORLD\" worked example")
    func reedSolomonExample() {
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        let ecc = ReedSolomon.remainder(data, generator: ReedSolomon.generator(degree: 10))
        #expect(ecc == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    @Test("The smallest version that holds the data is chosen; 2,331 bytes fit at level M, 2,332 do not")
    func capacity() throws {
        #expect(try QRCode(bytes: Array(repeating: 0x41, count: 14)).version == 1)
        #expect(try QRCode(bytes: Array(repeating: 0x41, count: 15)).version == 2)
        #expect(try QRCode(bytes: Array(repeating: 0x41, count: 2331)).version == 40)
        #expect(throws: QRCode.EncodeError.tooLong(bytes: 2332)) { try QRCode(bytes: Array(repeating: 0x41, count: 2332)) }
    }

    @Test("The SVG has no style attribute or script, only presentation attributes, and names itself for screen readers")
    func svgIsStrict() throws {
        let svg = try QRCode(text: "otpauth://totp/x").svg(label: "QR code <for> \"you\"")
        #expect(!svg.contains("style") && !svg.contains("script"))
        #expect(svg.contains("aria-label=\"QR code &lt;for&gt; &quot;you&quot;\""))
    }

    static let samples = [
        "otpauth://totp/Tradekeep:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Tradekeep&algorithm=SHA1&digits=6&period=30",
        "otpauth://totp/Tradekeep:a.very.long.name%2Bwith.tags%40subdomain.example-company.co.uk?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tradekeep",
        "x",
        String(repeating: "0123456789abcdef", count: 40),
    ]

    @Test(
        "zbarimg decodes every symbol, drawn from our SVG by rsvg-convert, to exactly the text encoded",
        .enabled(if: Tools.have("zbarimg", "rsvg-convert") || Python.requireAll, "needs zbarimg (zbar-tools) and rsvg-convert (librsvg2-bin)"),
        arguments: Self.samples
    )
    func zbarimgDecodes(_ text: String) throws {
        let code = try QRCode(text: text)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let svg = directory.appendingPathComponent("code.svg")
        let png = directory.appendingPathComponent("code.png")
        try Data(code.svg(label: "test").utf8).write(to: svg)
        let drawn = try Tools.run("rsvg-convert", ["--width", "\((code.size + 8) * 4)", "--output", png.path, svg.path])
        try #require(drawn.status == 0, "rsvg-convert: \(drawn.error)")
        let decoded = try Tools.run("zbarimg", ["--quiet", "--raw", "-Sbinary", png.path])
        try #require(decoded.status == 0, "zbarimg (version \(code.version)): \(decoded.error)")
        var output = String(decoding: decoded.output, as: UTF8.self)
        if output.hasSuffix("\n") { output.removeLast() }
        #expect(output == text, "version \(code.version), mask \(code.mask)")
    }

    @Test("Every mask is tried: across many inputs the chosen masks cover all eight")
    func masksVary() throws {
        var masks = Set<Int>()
        for index in 0..<200 { masks.insert(try QRCode(text: "otpauth://totp/t:\(index)?secret=\(index * 7919)").mask) }
        #expect(masks.count == 8)
    }
}
