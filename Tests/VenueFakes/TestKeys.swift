// Random key material for tests of the venues and their fakes.

public enum TestKeys {
    /// `count` random ASCII letters and digits, the alphabet of most exchange API keys and HMAC secrets.
    public static func text(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
}
