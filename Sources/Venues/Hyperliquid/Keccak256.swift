// Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3-256's 0x06), for Hyperliquid signing.

/// Ethereum's hash: keccak256 over bytes, 32-byte digest.
public enum Keccak256 {
    /// The 136-byte rate of Keccak-256 (1600-bit state, 512-bit capacity).
    static let rate = 136

    public static func hash<D: Sequence>(_ data: D) -> [UInt8] where D.Element == UInt8 {
        // Contiguous inputs (Array, Data, slices) are hashed in place; anything else is gathered once.
        if let digest = data.withContiguousStorageIfAvailable({ Self.hash(buffer: UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(data).withUnsafeBytes { Self.hash(buffer: $0) }
    }

    static func hash(buffer input: UnsafeRawBufferPointer) -> [UInt8] {
        var state = [UInt64](repeating: 0, count: 25)
        state.withUnsafeMutableBufferPointer { lanes in
            let a = lanes.baseAddress!
            var offset = 0
            while input.count - offset >= Self.rate {
                for lane in 0..<(Self.rate / 8) {
                    a[lane] ^= Self.loadLittleEndian(input, offset + lane * 8)
                }
                Self.permute(a)
                offset += Self.rate
            }
            // Last, partial block with Keccak's multi-rate padding: 0x01 after the message, 0x80 in the block's last byte.
            var block = [UInt8](repeating: 0, count: Self.rate)
            let remaining = input.count - offset
            for index in 0..<remaining { block[index] = input[offset + index] }
            block[remaining] ^= 0x01
            block[Self.rate - 1] ^= 0x80
            block.withUnsafeBytes { padded in
                for lane in 0..<(Self.rate / 8) {
                    a[lane] ^= Self.loadLittleEndian(padded, lane * 8)
                }
            }
            Self.permute(a)
        }
        var digest = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            digest[index] = UInt8(truncatingIfNeeded: state[index / 8] >> (UInt64(index % 8) * 8))
        }
        return digest
    }

    @inline(__always)
    private static func loadLittleEndian(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 {
        (x << n) | (x >> (64 - n))
    }

    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// Keccak-f[1600], lanes indexed x + 5y. Rho and pi are written out lane by lane so no tables sit in the loop.
    private static func permute(_ a: UnsafeMutablePointer<UInt64>) {
        Self.roundConstants.withUnsafeBufferPointer { constants in
            for round in 0..<24 {
                // θ
                let c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
                let c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
                let c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
                let c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
                let c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
                let d0 = c4 ^ rotl(c1, 1)
                let d1 = c0 ^ rotl(c2, 1)
                let d2 = c1 ^ rotl(c3, 1)
                let d3 = c2 ^ rotl(c4, 1)
                let d4 = c3 ^ rotl(c0, 1)
                // ρ and π: b[y, 2x + 3y] = rotl(a[x, y], r[x, y]).
                let b0 = a[0] ^ d0
                let b10 = rotl(a[1] ^ d1, 1)
                let b20 = rotl(a[2] ^ d2, 62)
                let b5 = rotl(a[3] ^ d3, 28)
                let b15 = rotl(a[4] ^ d4, 27)
                let b16 = rotl(a[5] ^ d0, 36)
                let b1 = rotl(a[6] ^ d1, 44)
                let b11 = rotl(a[7] ^ d2, 6)
                let b21 = rotl(a[8] ^ d3, 55)
                let b6 = rotl(a[9] ^ d4, 20)
                let b7 = rotl(a[10] ^ d0, 3)
                let b17 = rotl(a[11] ^ d1, 10)
                let b2 = rotl(a[12] ^ d2, 43)
                let b12 = rotl(a[13] ^ d3, 25)
                let b22 = rotl(a[14] ^ d4, 39)
                let b23 = rotl(a[15] ^ d0, 41)
                let b8 = rotl(a[16] ^ d1, 45)
                let b18 = rotl(a[17] ^ d2, 15)
                let b3 = rotl(a[18] ^ d3, 21)
                let b13 = rotl(a[19] ^ d4, 8)
                let b14 = rotl(a[20] ^ d0, 18)
                let b24 = rotl(a[21] ^ d1, 2)
                let b9 = rotl(a[22] ^ d2, 61)
                let b19 = rotl(a[23] ^ d3, 56)
                let b4 = rotl(a[24] ^ d4, 14)
                // χ, then ι on lane 0.
                a[0] = b0 ^ (~b1 & b2) ^ constants[round]
                a[1] = b1 ^ (~b2 & b3)
                a[2] = b2 ^ (~b3 & b4)
                a[3] = b3 ^ (~b4 & b0)
                a[4] = b4 ^ (~b0 & b1)
                a[5] = b5 ^ (~b6 & b7)
                a[6] = b6 ^ (~b7 & b8)
                a[7] = b7 ^ (~b8 & b9)
                a[8] = b8 ^ (~b9 & b5)
                a[9] = b9 ^ (~b5 & b6)
                a[10] = b10 ^ (~b11 & b12)
                a[11] = b11 ^ (~b12 & b13)
                a[12] = b12 ^ (~b13 & b14)
                a[13] = b13 ^ (~b14 & b10)
                a[14] = b14 ^ (~b10 & b11)
                a[15] = b15 ^ (~b16 & b17)
                a[16] = b16 ^ (~b17 & b18)
                a[17] = b17 ^ (~b18 & b19)
                a[18] = b18 ^ (~b19 & b15)
                a[19] = b19 ^ (~b15 & b16)
                a[20] = b20 ^ (~b21 & b22)
                a[21] = b21 ^ (~b22 & b23)
                a[22] = b22 ^ (~b23 & b24)
                a[23] = b23 ^ (~b24 & b20)
                a[24] = b24 ^ (~b20 & b21)
            }
        }
    }
}
