// C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile coordinates, paths and contents. A tile at level L holds
// the hashes of tree level 8·L; the log keeps every perfect node, so a tile is one range read.

import Foundation

public struct TileID: Sendable, Equatable, Hashable {
    public static let height = 8
    public static let fullWidth = 256

    /// The tile level (tree level 8·level), or nil for an entry bundle.
    public let level: Int?
    public let index: UInt64
    /// 256 for a full tile, 1…255 for a partial one.
    public let width: Int

    public init(level: Int?, index: UInt64, width: Int = TileID.fullWidth) {
        self.level = level
        self.index = index
        self.width = width
    }

    public var isPartial: Bool { self.width < Self.fullWidth }

    /// The tree level whose node hashes this tile holds.
    public var treeLevel: Int { (self.level ?? 0) * Self.height }

    /// The first node index (at `treeLevel`) in the tile.
    public var firstNode: UInt64 { self.index * UInt64(Self.fullWidth) }

    /// `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    public var path: String {
        var path = "tile/" + (self.level.map(String.init) ?? "entries") + "/" + Self.encode(self.index)
        if self.isPartial { path += ".p/\(self.width)" }
        return path
    }

    /// `1234067` → `x001/x234/067`.
    static func encode(_ index: UInt64) -> String {
        var groups: [String] = []
        var rest = index
        repeat {
            groups.insert(String(format: "%03d", Int(rest % 1000)), at: 0)
            rest /= 1000
        } while rest > 0
        return groups.enumerated().map { $0.offset == groups.count - 1 ? $0.element : "x" + $0.element }.joined(separator: "/")
    }

    /// Parse what follows `tile/`; nil for anything the spec does not allow (leading zeros, widths out of range,
    /// levels above 63).
    public init?(path: some StringProtocol) {
        var parts = String(path).split(separator: "/" as Character, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        let levelText = parts.removeFirst()
        var width = Self.fullWidth
        if parts.count >= 2, parts[parts.count - 2].hasSuffix(".p") {
            let widthText = parts.removeLast()
            guard let parsed = Int(widthText), String(parsed) == widthText, (1...255).contains(parsed) else { return nil }
            width = parsed
            parts[parts.count - 1] = String(parts[parts.count - 1].dropLast(2))
        }
        guard parts.count <= 7 else { return nil }
        var index: UInt64 = 0
        for part in parts {
            let digits = part.hasPrefix("x") ? part.dropFirst() : Substring(part)
            guard digits.count == 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let group = UInt64(digits) else { return nil }
            let (scaled, overflow) = index.multipliedReportingOverflow(by: 1000)
            let (sum, carry) = scaled.addingReportingOverflow(group)
            guard !overflow, !carry else { return nil }
            index = sum
        }
        // One spelling per index: the x prefixes where they belong, no leading zero groups.
        guard Self.encode(index) == parts.joined(separator: "/") else { return nil }
        if levelText == "entries" {
            self.init(level: nil, index: index, width: width)
        } else {
            guard let level = Int(levelText), String(level) == levelText, (0...63).contains(level) else { return nil }
            self.init(level: level, index: index, width: width)
        }
    }

    /// The tile a tree of `size` leaves holds at `level` for node range starting at tile `index`, if it exists:
    /// full tiles left of the edge, the partial tile at the edge (width floor(size / 256^level) mod 256).
    public static func existing(level: Int?, index: UInt64, size: UInt64) -> TileID? {
        let treeLevel = (level ?? 0) * Self.height
        guard treeLevel < 64 else { return nil }
        let nodes = size >> UInt64(treeLevel)
        let full = nodes / UInt64(Self.fullWidth)
        if index < full { return TileID(level: level, index: index) }
        let partial = Int(nodes % UInt64(Self.fullWidth))
        guard index == full, partial > 0 else { return nil }
        return TileID(level: level, index: index, width: partial)
    }
}

/// Tile contents.
public enum TileContent {
    /// A hash tile: the tile's node hashes, concatenated.
    public static func hashes(_ nodes: [MerkleHash]) -> Data {
        var data = Data(capacity: nodes.count * RFC6962.hashSize)
        for node in nodes { data.append(contentsOf: node) }
        return data
    }

    /// An entry bundle: each entry prefixed by its big-endian 16-bit length.
    public static func bundle(_ entries: [[UInt8]]) -> Data {
        var data = Data()
        for entry in entries {
            precondition(entry.count <= Int(UInt16.max))
            data.append(UInt8(entry.count >> 8))
            data.append(UInt8(entry.count & 0xFF))
            data.append(contentsOf: entry)
        }
        return data
    }

    /// The entries of a bundle; nil if the lengths do not add up.
    public static func entries(ofBundle data: Data) -> [[UInt8]]? {
        var entries: [[UInt8]] = []
        var bytes = data[...]
        while !bytes.isEmpty {
            guard bytes.count >= 2 else { return nil }
            let length = Int(bytes[bytes.startIndex]) << 8 | Int(bytes[bytes.startIndex + 1])
            bytes = bytes.dropFirst(2)
            guard bytes.count >= length else { return nil }
            entries.append(Array(bytes.prefix(length)))
            bytes = bytes.dropFirst(length)
        }
        return entries
    }
}
