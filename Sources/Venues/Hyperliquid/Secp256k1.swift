// secp256k1 ECDSA with recovery (Ethereum-style signatures) through the system libsecp256k1, loaded at run time.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum Secp256k1Error: Error, Sendable, Equatable, CustomStringConvertible {
    case libraryMissing
    /// The library loaded but lacks a function, e.g. a build without the recovery module.
    case libraryIncomplete(missingSymbol: String)
    case invalidPrivateKey
    case invalidDigest
    case signingFailed
    case invalidSignature

    public var code: String {
        switch self {
        case .libraryMissing: "secp256k1_missing"
        case .libraryIncomplete: "secp256k1_incomplete"
        case .invalidPrivateKey: "invalid_private_key"
        case .invalidDigest: "invalid_digest"
        case .signingFailed: "signing_failed"
        case .invalidSignature: "invalid_signature"
        }
    }

    public var message: String {
        switch self {
        case .libraryMissing:
            "Hyperliquid signing needs libsecp256k1, which is not installed: install Debian's libsecp256k1-1 (apt-get install libsecp256k1-1) or set TRADEKEEP_SECP256K1_PATH."
        case .libraryIncomplete(let symbol):
            "The libsecp256k1 found lacks \(symbol) (it was built without the recovery module): install Debian's libsecp256k1-1 (apt-get install libsecp256k1-1) or point TRADEKEEP_SECP256K1_PATH at a build with --enable-module-recovery."
        case .invalidPrivateKey:
            "The private key is not a valid secp256k1 key: it must be 32 bytes, non-zero and below the curve order. Check the key that was stored for this account."
        case .invalidDigest: "The digest to sign must be exactly 32 bytes."
        case .signingFailed: "libsecp256k1 could not produce a signature."
        case .invalidSignature: "The signature is malformed or does not recover to a public key."
        }
    }

    public var description: String { self.message }
}

/// A 20-byte Ethereum address.
public struct EthereumAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    /// Parses 40 hex digits, with or without "0x", in any case (the EIP-55 checksum is not enforced).
    public init?(_ text: String) {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard digits.utf8.count == 40, let bytes = HyperliquidHex.decode(digits) else { return nil }
        self.bytes = bytes
    }

    public static let zero = EthereumAddress(bytes: [UInt8](repeating: 0, count: 20))!

    /// "0x" and 40 lowercase hex digits.
    public var hex: String { HyperliquidHex.encode(self.bytes) }

    /// EIP-55 mixed-case form: a hex letter is upper case where the keccak of the lowercase digits has a nibble ≥ 8.
    public var checksummed: String {
        let lower = Array(HyperliquidHex.encode(self.bytes).utf8.dropFirst(2))
        let hash = Keccak256.hash(lower)
        var output = "0x"
        for (index, character) in lower.enumerated() {
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0F
            let isLetter = character >= UInt8(ascii: "a")
            output.unicodeScalars.append(Unicode.Scalar(isLetter && nibble >= 8 ? character - 32 : character))
        }
        return output
    }

    public var description: String { self.checksummed }
}

/// An ECDSA signature with its recovery id, in Ethereum's r, s, v (27 or 28) form.
public struct RecoverableSignature: Sendable, Hashable {
    public let r: [UInt8]
    public let s: [UInt8]
    public let v: UInt8

    /// r and s are 32 bytes each; v is 27 + recovery id (27...30, in practice 27 or 28).
    public init?(r: [UInt8], s: [UInt8], v: UInt8) {
        guard r.count == 32, s.count == 32, (27...30).contains(v) else { return nil }
        self.r = r
        self.s = s
        self.v = v
    }

    /// Accepts r and s with or without "0x" and with fewer than 64 digits (eth-account's to_hex drops leading zeros).
    public init?(rHex: String, sHex: String, v: UInt8) {
        guard let r = Self.word(rHex), let s = Self.word(sHex) else { return nil }
        self.init(r: r, s: s, v: v)
    }

    /// 65 bytes r ‖ s ‖ v.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 65 else { return nil }
        self.init(r: Array(bytes[0..<32]), s: Array(bytes[32..<64]), v: bytes[64])
    }

    /// "0x" and 64 lowercase hex digits.
    public var rHex: String { HyperliquidHex.encode(self.r) }
    public var sHex: String { HyperliquidHex.encode(self.s) }
    public var bytes: [UInt8] { self.r + self.s + [self.v] }
    /// "0x" and 130 lowercase hex digits: r ‖ s ‖ v.
    public var hex: String { HyperliquidHex.encode(self.bytes) }

    private static func word(_ text: String) -> [UInt8]? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.utf8.count <= 64 else { return nil }
        let padded = String(repeating: "0", count: 64 - digits.utf8.count) + digits
        return HyperliquidHex.decode(Substring(padded))
    }
}

/// secp256k1 signing and recovery. Loading is lazy and once per process; the library is never linked at build time,
/// so Tradekeep builds and runs without it and only Hyperliquid signing needs it.
public struct Secp256k1: Sendable {
    private let library: Secp256k1Library

    private static let shared: Result<Secp256k1, Secp256k1Error> = Result { () throws(Secp256k1Error) in
        Secp256k1(library: try Secp256k1Library.open())
    }

    /// The process-wide instance (a static let, so initialised once, thread-safely).
    public static func load() throws(Secp256k1Error) -> Secp256k1 {
        try Self.shared.get()
    }

    /// Whether the library can be loaded here.
    public static var isAvailable: Bool { (try? Self.load()) != nil }

    public func isValidPrivateKey(_ privateKey: UnsafeRawBufferPointer) -> Bool {
        guard privateKey.count == 32, let key = privateKey.baseAddress else { return false }
        return self.library.seckeyVerify(self.library.context, key.assumingMemoryBound(to: UInt8.self)) == 1
    }

    /// The 65-byte uncompressed public key (0x04 ‖ X ‖ Y).
    public func publicKey(privateKey: UnsafeRawBufferPointer) throws(Secp256k1Error) -> [UInt8] {
        guard privateKey.count == 32, let key = privateKey.baseAddress else { throw .invalidPrivateKey }
        var pubkey = [UInt8](repeating: 0, count: 64)
        let created = pubkey.withUnsafeMutableBufferPointer {
            self.library.pubkeyCreate(self.library.context, $0.baseAddress, key.assumingMemoryBound(to: UInt8.self))
        }
        guard created == 1 else { throw .invalidPrivateKey }
        return try self.serializeUncompressed(pubkey)
    }

    /// keccak256 of the public key without its 0x04 prefix, last 20 bytes.
    public func address(privateKey: UnsafeRawBufferPointer) throws(Secp256k1Error) -> EthereumAddress {
        Self.address(uncompressedPublicKey: try self.publicKey(privateKey: privateKey))
    }

    /// Deterministic (RFC 6979) low-s signature of a 32-byte digest, as eth-account's `sign_message` gives.
    public func signRecoverable(digest: [UInt8], privateKey: UnsafeRawBufferPointer) throws(Secp256k1Error) -> RecoverableSignature {
        guard digest.count == 32 else { throw .invalidDigest }
        guard self.isValidPrivateKey(privateKey), let key = privateKey.baseAddress else { throw .invalidPrivateKey }
        var signature = [UInt8](repeating: 0, count: 65)
        // NULL nonce function selects the library's default, RFC 6979.
        let signed = signature.withUnsafeMutableBufferPointer { output in
            digest.withUnsafeBufferPointer { message in
                self.library.signRecoverable(
                    self.library.context,
                    output.baseAddress,
                    message.baseAddress,
                    key.assumingMemoryBound(to: UInt8.self),
                    nil,
                    nil
                )
            }
        }
        guard signed == 1 else { throw .signingFailed }
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = -1
        let serialized = compact.withUnsafeMutableBufferPointer { output in
            signature.withUnsafeBufferPointer { self.library.serializeCompact(self.library.context, output.baseAddress, &recoveryID, $0.baseAddress) }
        }
        guard serialized == 1, (0...3).contains(recoveryID),
            let result = RecoverableSignature(r: Array(compact[0..<32]), s: Array(compact[32..<64]), v: 27 + UInt8(recoveryID))
        else { throw .signingFailed }
        return result
    }

    /// The address whose key made `signature` over `digest`.
    public func recoverAddress(digest: [UInt8], signature: RecoverableSignature) throws(Secp256k1Error) -> EthereumAddress {
        guard digest.count == 32 else { throw .invalidDigest }
        var parsed = [UInt8](repeating: 0, count: 65)
        let compact = signature.r + signature.s
        let recoveryID = Int32(signature.v) - 27
        let parsedOK = parsed.withUnsafeMutableBufferPointer { output in
            compact.withUnsafeBufferPointer { self.library.parseCompact(self.library.context, output.baseAddress, $0.baseAddress, recoveryID) }
        }
        guard parsedOK == 1 else { throw .invalidSignature }
        var pubkey = [UInt8](repeating: 0, count: 64)
        let recovered = pubkey.withUnsafeMutableBufferPointer { output in
            parsed.withUnsafeBufferPointer { signatureBytes in
                digest.withUnsafeBufferPointer {
                    self.library.recover(self.library.context, output.baseAddress, signatureBytes.baseAddress, $0.baseAddress)
                }
            }
        }
        guard recovered == 1 else { throw .invalidSignature }
        return Self.address(uncompressedPublicKey: try self.serializeUncompressed(pubkey))
    }

    private func serializeUncompressed(_ pubkey: [UInt8]) throws(Secp256k1Error) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 65)
        var length = 65
        let serialized = output.withUnsafeMutableBufferPointer { buffer in
            pubkey.withUnsafeBufferPointer {
                self.library.pubkeySerialize(self.library.context, buffer.baseAddress, &length, $0.baseAddress, Secp256k1Library.uncompressed)
            }
        }
        guard serialized == 1, length == 65 else { throw .signingFailed }
        return output
    }

    static func address(uncompressedPublicKey: [UInt8]) -> EthereumAddress {
        EthereumAddress(bytes: Array(Keccak256.hash(uncompressedPublicKey.dropFirst()).suffix(20)))!
    }
}

/// The dlopen'ed library: its handle, one context and the functions used.
/// @unchecked Sendable: every stored property is set once in init and never mutated; libsecp256k1 documents a context
/// as safe to use from many threads at once for signing and verification once created (and randomized) — the only
/// calls made after init.
private final class Secp256k1Library: @unchecked Sendable {
    // Constants from secp256k1.h (stable across 0.1–0.6): CONTEXT_SIGN | CONTEXT_VERIFY, which 0.2+ treats as NONE
    // and older releases need for signing and verifying.
    static let contextSignVerify: UInt32 = (1 << 0) | (1 << 8) | (1 << 9)
    static let uncompressed: UInt32 = 1 << 1

    typealias ContextCreate = @convention(c) (UInt32) -> OpaquePointer?
    typealias ContextDestroy = @convention(c) (OpaquePointer?) -> Void
    typealias ContextRandomize = @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?) -> Int32
    typealias Callback = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void
    typealias SetCallback = @convention(c) (OpaquePointer?, Callback?, UnsafeMutableRawPointer?) -> Void
    typealias SeckeyVerify = @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?) -> Int32
    typealias PubkeyCreate = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?) -> Int32
    typealias PubkeySerialize =
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int>?,
            UnsafePointer<UInt8>?, UInt32
        ) -> Int32
    typealias SignRecoverable =
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?,
            UnsafePointer<UInt8>?, UnsafeRawPointer?, UnsafeRawPointer?
        ) -> Int32
    typealias SerializeCompact =
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int32>?,
            UnsafePointer<UInt8>?
        ) -> Int32
    typealias ParseCompact = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, Int32) -> Int32
    typealias Recover = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, UnsafePointer<UInt8>?) -> Int32

    let handle: UnsafeMutableRawPointer
    let context: OpaquePointer
    let contextDestroy: ContextDestroy
    let seckeyVerify: SeckeyVerify
    let pubkeyCreate: PubkeyCreate
    let pubkeySerialize: PubkeySerialize
    let signRecoverable: SignRecoverable
    let serializeCompact: SerializeCompact
    let parseCompact: ParseCompact
    let recover: Recover

    static func candidatePaths() -> [String] {
        var paths: [String] = []
        if let explicit = getenv("TRADEKEEP_SECP256K1_PATH").map({ String(cString: $0) }), !explicit.isEmpty {
            paths.append(explicit)
        }
        #if canImport(Darwin)
        paths += ["libsecp256k1.2.dylib", "libsecp256k1.dylib", "/opt/homebrew/lib/libsecp256k1.dylib", "/usr/local/lib/libsecp256k1.dylib"]
        #else
        paths += ["libsecp256k1.so.2", "libsecp256k1.so.1", "libsecp256k1.so"]
        #endif
        return paths
    }

    static func open() throws(Secp256k1Error) -> Secp256k1Library {
        var failure = Secp256k1Error.libraryMissing
        for path in Self.candidatePaths() {
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { continue }
            do {
                return try Secp256k1Library(handle: handle)
            } catch {
                // A build without the recovery module: another candidate may still have it.
                failure = error
            }
        }
        throw failure
    }

    private init(handle: UnsafeMutableRawPointer) throws(Secp256k1Error) {
        func symbol<T>(_ name: String, as type: T.Type) throws(Secp256k1Error) -> T {
            guard let pointer = dlsym(handle, name) else {
                dlclose(handle)
                throw .libraryIncomplete(missingSymbol: name)
            }
            return unsafeBitCast(pointer, to: type)
        }
        let contextCreate = try symbol("secp256k1_context_create", as: ContextCreate.self)
        self.contextDestroy = try symbol("secp256k1_context_destroy", as: ContextDestroy.self)
        let setIllegalCallback = try symbol("secp256k1_context_set_illegal_callback", as: SetCallback.self)
        self.seckeyVerify = try symbol("secp256k1_ec_seckey_verify", as: SeckeyVerify.self)
        self.pubkeyCreate = try symbol("secp256k1_ec_pubkey_create", as: PubkeyCreate.self)
        self.pubkeySerialize = try symbol("secp256k1_ec_pubkey_serialize", as: PubkeySerialize.self)
        self.signRecoverable = try symbol("secp256k1_ecdsa_sign_recoverable", as: SignRecoverable.self)
        self.serializeCompact = try symbol("secp256k1_ecdsa_recoverable_signature_serialize_compact", as: SerializeCompact.self)
        self.parseCompact = try symbol("secp256k1_ecdsa_recoverable_signature_parse_compact", as: ParseCompact.self)
        self.recover = try symbol("secp256k1_ecdsa_recover", as: Recover.self)
        guard let context = contextCreate(Self.contextSignVerify) else {
            dlclose(handle)
            throw .libraryMissing
        }
        // The default illegal-argument callback aborts the process; with a no-op the call returns 0 and we throw.
        setIllegalCallback(context, { _, _ in }, nil)
        // Blinding against side channels, as the library recommends; optional because very old builds lack it.
        if let randomize = dlsym(handle, "secp256k1_context_randomize") {
            var seed = [UInt8](repeating: 0, count: 32)
            var generator = SystemRandomNumberGenerator()
            for index in seed.indices { seed[index] = generator.next() }
            _ = unsafeBitCast(randomize, to: ContextRandomize.self)(context, seed)
        }
        self.handle = handle
        self.context = context
    }

    deinit {
        self.contextDestroy(self.context)
        dlclose(self.handle)
    }
}
