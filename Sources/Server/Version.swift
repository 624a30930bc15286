// The version reported by `tradekeep version`.

public enum TradekeepVersion {
    public static let current = "0.2.0"
}
