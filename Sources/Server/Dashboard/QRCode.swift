// A QR code encoder (ISO/IEC 18004 Model 2) for one job: drawing an otpauth:// URI as SVG on the enrolment page, so
// the TOTP secret never leaves the server for a third-party QR service or a script. Byte mode, error correction
// level M, versions 1–40, the mask chosen by the standard's penalty rules. Tested by decoding its output with
// zbarimg (QRCodeTests).

/// A QR symbol: `size` × `size` modules, `true` for dark.
struct QRCode: Sendable, Equatable {
    enum EncodeError: Error, Equatable {
        case tooLong(bytes: Int)
    }

    let version: Int
    let mask: Int
    let size: Int
    private(set) var modules: [Bool]

    /// The smallest version at level M that holds `bytes` in byte mode.
    init(bytes: [UInt8]) throws(EncodeError) {
        guard let version = (1...40).first(where: { Self.dataBits(bytes.count, version: $0) <= Self.dataCodewords($0) * 8 }) else {
            throw .tooLong(bytes: bytes.count)
        }
        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.drawCodewords(Self.interleaved(Self.dataCodewords(bytes, version: version), version: version))
        var best = (mask: 0, penalty: Int.max)
        for mask in 0..<8 {
            var candidate = matrix
            candidate.applyMask(mask)
            candidate.drawFormatBits(mask: mask)
            let penalty = candidate.penalty()
            if penalty < best.penalty { best = (mask, penalty) }
        }
        matrix.applyMask(best.mask)
        matrix.drawFormatBits(mask: best.mask)
        self.version = version
        self.mask = best.mask
        self.size = matrix.size
        self.modules = matrix.dark
    }

    init(text: String) throws(EncodeError) {
        try self.init(bytes: Array(text.utf8))
    }

    func isDark(x: Int, y: Int) -> Bool {
        x >= 0 && y >= 0 && x < self.size && y < self.size && self.modules[y * self.size + x]
    }

    /// An SVG drawing with a `border`-module quiet zone; presentation attributes only (no `style`), so it renders
    /// under the dashboard's Content-Security-Policy. `label` becomes the image's accessible name.
    func svg(border: Int = 4, label: String) -> String {
        let extent = self.size + 2 * border
        var path = ""
        for y in 0..<self.size {
            var x = 0
            while x < self.size {
                guard self.isDark(x: x, y: y) else {
                    x += 1
                    continue
                }
                var run = 1
                while self.isDark(x: x + run, y: y) { run += 1 }
                path += "M\(x + border) \(y + border)h\(run)v1h-\(run)z"
                x += run
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(extent) \(extent)" role="img" aria-label="\(HTMLText.escape(label))" \
            shape-rendering="crispEdges"><rect width="\(extent)" height="\(extent)" fill="#fff"/><path d="\(path)" fill="#000"/></svg>
            """
    }

    // MARK: Codewords

    /// Error-correction codewords per block at level M, by version (index 0 unused).
    private static let eccPerBlock = [
        0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
        26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    ]
    /// Blocks at level M, by version (index 0 unused).
    private static let blocks = [
        0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
        17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
    ]

    /// Modules left for codewords once the function patterns are drawn (remainder bits included).
    static func rawDataModules(_ version: Int) -> Int {
        var modules = (16 * version + 128) * version + 64
        if version >= 2 {
            let alignments = version / 7 + 2
            modules -= (25 * alignments - 10) * alignments - 55
            if version >= 7 { modules -= 36 }
        }
        return modules
    }

    static func dataCodewords(_ version: Int) -> Int {
        Self.rawDataModules(version) / 8 - Self.eccPerBlock[version] * Self.blocks[version]
    }

    /// Mode indicator, character count (8 bits to version 9, 16 after) and the bytes.
    static func dataBits(_ count: Int, version: Int) -> Int {
        let countBits = version <= 9 ? 8 : 16
        return count < 1 << countBits ? 4 + countBits + 8 * count : Int.max
    }

    /// The data codewords: byte-mode segment, terminator, padding to the byte, then 0xEC 0x11 … to capacity.
    static func dataCodewords(_ bytes: [UInt8], version: Int) -> [UInt8] {
        var bits = BitWriter()
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: version <= 9 ? 8 : 16)
        for byte in bytes { bits.append(Int(byte), count: 8) }
        let capacity = Self.dataCodewords(version) * 8
        bits.append(0, count: min(4, capacity - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var codewords = bits.bytes
        var pad: UInt8 = 0xEC
        while codewords.count < capacity / 8 {
            codewords.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        return codewords
    }

    /// Split into blocks (short ones first), append each block's Reed–Solomon codewords, and interleave.
    static func interleaved(_ data: [UInt8], version: Int) -> [UInt8] {
        let blockCount = Self.blocks[version]
        let eccLength = Self.eccPerBlock[version]
        let raw = Self.rawDataModules(version) / 8
        let shortBlocks = blockCount - raw % blockCount
        let shortData = raw / blockCount - eccLength
        let generator = ReedSolomon.generator(degree: eccLength)
        var dataBlocks: [[UInt8]] = []
        var eccBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<blockCount {
            let length = shortData + (index < shortBlocks ? 0 : 1)
            let block = Array(data[offset..<offset + length])
            offset += length
            dataBlocks.append(block)
            eccBlocks.append(ReedSolomon.remainder(block, generator: generator))
        }
        var result: [UInt8] = []
        result.reserveCapacity(raw)
        for column in 0..<(shortData + 1) {
            for block in dataBlocks where column < block.count { result.append(block[column]) }
        }
        for column in 0..<eccLength {
            for block in eccBlocks { result.append(block[column]) }
        }
        return result
    }
}

/// Bits appended most significant first.
private struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    mutating func append(_ value: Int, count width: Int) {
        for shift in stride(from: width - 1, through: 0, by: -1) {
            if self.count % 8 == 0 { self.bytes.append(0) }
            if (value >> shift) & 1 == 1 { self.bytes[self.count / 8] |= 0x80 >> UInt8(self.count % 8) }
            self.count += 1
        }
    }
}

/// Reed–Solomon over GF(2⁸) with the QR polynomial x⁸ + x⁴ + x³ + x² + 1 and generator roots α⁰…α^(n−1).
enum ReedSolomon {
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var product: UInt16 = 0
        var a = UInt16(a)
        var b = b
        while b != 0 {
            if b & 1 == 1 { product ^= a }
            a <<= 1
            if a & 0x100 != 0 { a ^= 0x11D }
            b >>= 1
        }
        return UInt8(product)
    }

    /// Coefficients of ∏(x − αⁱ), highest degree first, the leading 1 left out.
    static func generator(degree: Int) -> [UInt8] {
        var coefficients = [UInt8](repeating: 0, count: degree)
        coefficients[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for index in 0..<degree {
                coefficients[index] = Self.multiply(coefficients[index], root)
                if index + 1 < degree { coefficients[index] ^= coefficients[index + 1] }
            }
            root = Self.multiply(root, 2)
        }
        return coefficients
    }

    /// The remainder of data·x^n divided by the generator: the block's error-correction codewords.
    static func remainder(_ data: [UInt8], generator: [UInt8]) -> [UInt8] {
        var remainder = [UInt8](repeating: 0, count: generator.count)
        for byte in data {
            let factor = byte ^ remainder.removeFirst()
            remainder.append(0)
            for index in remainder.indices { remainder[index] ^= Self.multiply(generator[index], factor) }
        }
        return remainder
    }
}

/// The module grid while it is being drawn: which modules are dark, and which belong to function patterns (never
/// masked, never holding data).
private struct Matrix {
    let version: Int
    let size: Int
    var dark: [Bool]
    var function: [Bool]

    init(version: Int) {
        self.version = version
        self.size = version * 4 + 17
        self.dark = Array(repeating: false, count: self.size * self.size)
        self.function = Array(repeating: false, count: self.size * self.size)
    }

    mutating func set(_ x: Int, _ y: Int, _ isDark: Bool) {
        self.dark[y * self.size + x] = isDark
        self.function[y * self.size + x] = true
    }

    func isDark(_ x: Int, _ y: Int) -> Bool { self.dark[y * self.size + x] }

    mutating func drawFunctionPatterns() {
        for index in 0..<self.size {
            self.set(6, index, index % 2 == 0)
            self.set(index, 6, index % 2 == 0)
        }
        for (x, y) in [(3, 3), (self.size - 4, 3), (3, self.size - 4)] {
            for dy in -4...4 {
                for dx in -4...4 where (0..<self.size).contains(x + dx) && (0..<self.size).contains(y + dy) {
                    let ring = max(abs(dx), abs(dy))
                    self.set(x + dx, y + dy, ring != 2 && ring != 4)
                }
            }
        }
        let centres = self.alignmentCentres()
        for (i, x) in centres.enumerated() {
            for (j, y) in centres.enumerated() {
                let last = centres.count - 1
                if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                for dy in -2...2 {
                    for dx in -2...2 { self.set(x + dx, y + dy, max(abs(dx), abs(dy)) != 1) }
                }
            }
        }
        self.drawFormatBits(mask: 0)  // reserves the format areas; redrawn once the mask is chosen
        self.drawVersion()
    }

    func alignmentCentres() -> [Int] {
        guard self.version > 1 else { return [] }
        let count = self.version / 7 + 2
        let step = self.version == 32 ? 26 : (self.version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
        return [6] + (0..<(count - 1)).map { self.size - 7 - $0 * step }.reversed()
    }

    /// Level M (bits 00) and the mask, BCH(15,5)-protected and XORed with 101010000010010, drawn twice.
    mutating func drawFormatBits(mask: Int) {
        let data = 0b00 << 3 | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        let bits = (data << 10 | remainder) ^ 0x5412
        func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
        for index in 0..<6 { self.set(8, index, bit(index)) }
        self.set(8, 7, bit(6))
        self.set(8, 8, bit(7))
        self.set(7, 8, bit(8))
        for index in 9..<15 { self.set(14 - index, 8, bit(index)) }
        for index in 0..<8 { self.set(self.size - 1 - index, 8, bit(index)) }
        for index in 8..<15 { self.set(8, self.size - 15 + index, bit(index)) }
        self.set(8, self.size - 8, true)
    }

    /// Versions 7 and up carry their number, BCH(18,6)-protected, in two 6×3 blocks.
    mutating func drawVersion() {
        guard self.version >= 7 else { return }
        var remainder = self.version
        for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
        let bits = self.version << 12 | remainder
        for index in 0..<18 {
            let isDark = (bits >> index) & 1 == 1
            let a = self.size - 11 + index % 3
            let b = index / 3
            self.set(a, b, isDark)
            self.set(b, a, isDark)
        }
    }

    /// The zigzag: column pairs from the right, alternately upwards and downwards, skipping the timing column.
    mutating func drawCodewords(_ codewords: [UInt8]) {
        var bitIndex = 0
        var right = self.size - 1
        while right >= 1 {
            if right == 6 { right = 5 }
            for vertical in 0..<self.size {
                for column in 0..<2 {
                    let x = right - column
                    let upward = (right + 1) & 2 == 0
                    let y = upward ? self.size - 1 - vertical : vertical
                    guard !self.function[y * self.size + x], bitIndex < codewords.count * 8 else { continue }
                    self.dark[y * self.size + x] = (codewords[bitIndex >> 3] >> (7 - UInt8(bitIndex & 7))) & 1 == 1
                    bitIndex += 1
                }
            }
            right -= 2
        }
    }

    mutating func applyMask(_ mask: Int) {
        for y in 0..<self.size {
            for x in 0..<self.size where !self.function[y * self.size + x] {
                let flip: Bool
                switch mask {
                case 0: flip = (x + y) % 2 == 0
                case 1: flip = y % 2 == 0
                case 2: flip = x % 3 == 0
                case 3: flip = (x + y) % 3 == 0
                case 4: flip = (x / 3 + y / 2) % 2 == 0
                case 5: flip = x * y % 2 + x * y % 3 == 0
                case 6: flip = (x * y % 2 + x * y % 3) % 2 == 0
                default: flip = ((x + y) % 2 + x * y % 3) % 2 == 0
                }
                if flip { self.dark[y * self.size + x].toggle() }
            }
        }
    }

    /// The standard's four penalty rules: runs of five or more, 2×2 blocks, finder-like 1:1:3:1:1 patterns with
    /// four light modules beside them, and imbalance of dark and light.
    func penalty() -> Int {
        var score = 0
        for line in 0..<self.size {
            for horizontal in [true, false] {
                var run = 0
                var previous = false
                var window = 0
                for index in 0..<self.size {
                    let isDark = horizontal ? self.isDark(index, line) : self.isDark(line, index)
                    if index > 0 && isDark == previous {
                        run += 1
                        if run == 5 { score += 3 } else if run > 5 { score += 1 }
                    } else {
                        run = 1
                        previous = isDark
                    }
                    window = ((window << 1) & 0x7FF) | (isDark ? 1 : 0)
                    if index >= 10 && (window == 0x05D || window == 0x5D0) { score += 40 }
                }
            }
        }
        for y in 0..<(self.size - 1) {
            for x in 0..<(self.size - 1) {
                let colour = self.isDark(x, y)
                if colour == self.isDark(x + 1, y) && colour == self.isDark(x, y + 1) && colour == self.isDark(x + 1, y + 1) {
                    score += 3
                }
            }
        }
        let darkCount = self.dark.lazy.filter { $0 }.count
        let total = self.size * self.size
        score += ((abs(darkCount * 20 - total * 10) + total - 1) / total - 1) * 10
        return score
    }
}
