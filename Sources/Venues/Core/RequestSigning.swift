// The exchanges' request-signing rules as pure functions, checked on official vectors and against the venues' SDKs.

import Crypto
import Foundation
import Vault

/// Lower-case hex of some bytes.
func hexString<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(64)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// A secret given as text (the HMAC keys of Binance, Bybit, OKX) used as its UTF-8 bytes.
extension SecretBytes {
    init(text: String) { self.init(copying: Array(text.utf8)) }
}

public enum BinanceSigning {
    /// `signature` = hex HMAC-SHA256(secret, totalParams): the query string followed by the form body.
    public static func signature(payload: String, secret: SecretBytes) -> String {
        hexString(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: secret.symmetricKey))
    }
}

public enum BybitSigning {
    /// X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow + (query string | JSON body)).
    public static func signature(timestamp: String, apiKey: String, recvWindow: String, payload: String, secret: SecretBytes) -> String {
        let message = timestamp + apiKey + recvWindow + payload
        return hexString(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: secret.symmetricKey))
    }
}

public enum OKXSigning {
    /// OK-ACCESS-SIGN = base64 HMAC-SHA256(secret, timestamp + METHOD + requestPath(+?query) + body).
    public static func signature(timestamp: String, method: String, requestPath: String, body: String, secret: SecretBytes) -> String {
        let message = timestamp + method.uppercased() + requestPath + body
        return Data(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: secret.symmetricKey)).base64EncodedString()
    }

    /// OK-ACCESS-TIMESTAMP: ISO 8601 in UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z.
    public static func timestamp(milliseconds: Int64) -> String {
        // Whole seconds through the formatter, milliseconds as integer digits: Double would round .715 to .714.
        let seconds = Date(timeIntervalSince1970: Double(milliseconds / 1000))
        let text = seconds.formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
        let fraction = String(milliseconds % 1000)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }
}

public enum KrakenSigning {
    /// API-Sign = base64 HMAC-SHA512(base64-decoded secret, uriPath + SHA256(nonce + postData)).
    public static func signature(uriPath: String, nonce: String, postData: String, secret: SecretBytes) -> String {
        let inner = SHA256.hash(data: Array((nonce + postData).utf8))
        var message = Array(uriPath.utf8)
        message.append(contentsOf: inner)
        return Data(HMAC<SHA512>.authenticationCode(for: message, using: secret.symmetricKey)).base64EncodedString()
    }

    /// Kraken hands out secrets in base64; the HMAC key is the decoded bytes. Nil if the text is not base64.
    public static func decodeSecret(_ text: SecretBytes) -> SecretBytes? {
        text.withUnsafeBytes { raw -> SecretBytes? in
            guard var decoded = Data(base64Encoded: Data(raw)), !decoded.isEmpty else { return nil }
            defer { decoded.resetBytes(in: 0..<decoded.count) }
            return SecretBytes(copying: decoded)
        }
    }
}
