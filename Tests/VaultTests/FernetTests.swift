// Fernet on the spec's own vectors (../shared/vectors/fernet), and both ways with Python's cryptography.

import Foundation
import InteropSupport
import Testing

@testable import Vault

@Suite struct FernetVectorTests {
    struct Vector: Decodable {
        let token: String
        let now: String
        let secret: String
        let src: String?
        let iv: [UInt8]?
        let ttl_sec: Double?
        let desc: String?
    }

    static func load(_ name: String) -> [Vector] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/vectors/fernet/\(name).json")
        return try! JSONDecoder().decode([Vector].self, from: Data(contentsOf: url))
    }

    static func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test("generate.json: the same key, time and IV give the spec's token byte for byte")
    func generate() throws {
        for vector in Self.load("generate") {
            let fernet = Fernet(key: try FernetKey(base64URL: vector.secret))
            #expect(try fernet.encrypt(Array(vector.src!.utf8), now: Self.date(vector.now), iv: vector.iv) == vector.token)
        }
    }

    @Test("verify.json: the spec's token decrypts to its plaintext")
    func verify() throws {
        for vector in Self.load("verify") {
            let fernet = Fernet(key: try FernetKey(base64URL: vector.secret))
            let plaintext = try fernet.decrypt(vector.token, ttl: vector.ttl_sec, now: Self.date(vector.now))
            #expect(String(decoding: plaintext, as: UTF8.self) == vector.src)
        }
    }

    @Test("invalid.json: every invalid token is refused", arguments: load("invalid").map { $0.desc! })
    func invalid(description: String) throws {
        let vector = Self.load("invalid").first { $0.desc == description }!
        let fernet = Fernet(key: try FernetKey(base64URL: vector.secret))
        #expect(throws: FernetError.self) { try fernet.decrypt(vector.token, ttl: vector.ttl_sec, now: Self.date(vector.now)) }
    }

    @Test("Keys: 32 bytes of URL-safe base64; anything else is refused")
    func keys() throws {
        let key = FernetKey.generate()
        #expect(key.base64URL.count == 44)
        #expect(try FernetKey(base64URL: key.base64URL).base64URL == key.base64URL)
        // Empty, short, the standard alphabet, missing padding, 34 bytes.
        for bad in [
            "", "short", "cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4",
            "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4e4=",
        ] {
            #expect(throws: FernetError.invalidKey) { try FernetKey(base64URL: bad) }
        }
    }

    @Test("MultiFernet encrypts with the first key, decrypts with any, and rotate keeps the timestamp")
    func multi() throws {
        let old = FernetKey.generate()
        let new = FernetKey.generate()
        let created = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try Fernet(key: old).encrypt(Array("rotate me".utf8), now: created)
        let multi = try MultiFernet(keys: [new, old])
        #expect(try multi.decrypt(token, now: created) == Array("rotate me".utf8))
        let rotated = try multi.rotate(token)
        #expect(try Fernet(key: new).timestamp(of: rotated) == created)
        #expect(throws: FernetError.self) { try Fernet(key: old).decrypt(rotated, now: created) }
        #expect(throws: FernetError.self) { try MultiFernet(keys: [FernetKey.generate()]).decrypt(token, now: created) }
    }
}

@Suite(.enabled(if: Python.interopAvailable || Python.requireAll, "needs python3 with cryptography (pip install -r interop/requirements.txt)"))
struct FernetInteropTests {
    @Test("Our tokens decrypt with cryptography.fernet; its tokens decrypt with ours; MultiFernet.rotate agrees")
    func bothWays() throws {
        let key = FernetKey.generate()
        let payloads: [[UInt8]] = [[], Array("hello".utf8), (0..<1000).map { _ in UInt8.random(in: 0...255) }, Array(repeating: 7, count: 16)]
        let ours = try payloads.map { try Fernet(key: key).encrypt($0) }
        let other = FernetKey.generate()
        let answer = try Python.interop(
            "fernet.py",
            [
                "decrypt": ours.map { ["key": key.base64URL, "token": $0] } + [["key": other.base64URL, "token": ours[1]]],
                "encrypt": payloads.map { ["key": key.base64URL, "plaintext": Data($0).base64EncodedString()] },
                "rotate": ["keys": [other.base64URL, key.base64URL], "token": ours[1]],
            ]
        )
        let decrypted = try #require(answer["decrypted"] as? [Any])
        for (index, payload) in payloads.enumerated() {
            #expect((decrypted[index] as? String).flatMap { Data(base64Encoded: $0) } == Data(payload))
        }
        #expect(decrypted.last is NSNull, "a token must not decrypt under another key")
        let theirs = try #require(answer["tokens"] as? [String])
        for (token, payload) in zip(theirs, payloads) {
            #expect(try Fernet(key: key).decrypt(token, ttl: 60) == payload)
        }
        let rotated = try #require(answer["rotated"] as? String)
        #expect(try Fernet(key: other).decrypt(rotated) == payloads[1])
        #expect(try Fernet(key: other).timestamp(of: rotated) == Fernet(key: key).timestamp(of: ours[1]))
    }
}
