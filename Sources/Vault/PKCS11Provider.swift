// The `pkcs11` provider: a non-extractable AES-256 key in an HSM token (SoftHSM2 in tests) wraps data keys with
// CKM_AES_KEY_WRAP_PAD (RFC 5649). The PKCS#11 module is loaded with dlopen when configured; without it,
// everything else works and this provider reports a clear error.

import CPKCS11
import Crypto
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

public struct PKCS11Error: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let code: UInt
    public let detail: String

    init(_ operation: String, _ code: CK_RV, detail: String = "") {
        self.operation = operation
        self.code = UInt(code)
        self.detail = detail
    }

    static let meanings: [UInt: String] = [
        0x3: "the module failed (CKR_GENERAL_ERROR)", 0x6: "the function failed (CKR_FUNCTION_FAILED)",
        0x7: "bad arguments (CKR_ARGUMENTS_BAD)", 0x20: "the data is invalid (CKR_DATA_INVALID)",
        0x40: "the wrapped key is invalid (CKR_ENCRYPTED_DATA_INVALID)", 0x70: "the mechanism is not supported (CKR_MECHANISM_INVALID)",
        0x82: "the key object no longer exists (CKR_OBJECT_HANDLE_INVALID)", 0xA0: "the PIN is wrong (CKR_PIN_INCORRECT)",
        0xA4: "the PIN is locked (CKR_PIN_LOCKED)", 0xB3: "the session is closed (CKR_SESSION_HANDLE_INVALID)",
        0xE0: "the token is not present (CKR_TOKEN_NOT_PRESENT)", 0x110: "the wrapped data is invalid (CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)",
        0x112: "the wrapped key is damaged (CKR_WRAPPED_KEY_INVALID)", 0x101: "not logged in (CKR_USER_NOT_LOGGED_IN)",
        0x190: "the module is not initialised (CKR_CRYPTOKI_NOT_INITIALIZED)",
    ]

    public var description: String {
        let meaning = Self.meanings[self.code] ?? String(format: "CKR 0x%lX", self.code)
        return "PKCS#11 \(self.operation): \(meaning)\(self.detail.isEmpty ? "" : " — \(self.detail)")"
    }
}

/// One loaded PKCS#11 module. Cryptoki is initialised once per process; calls are serialised by a lock.
final class PKCS11Module: Sendable {
    /// The address of the module's CK_FUNCTION_LIST, kept as an integer so the type stays Sendable; every use
    /// goes through `lock`.
    private let functionList: UInt
    private let lock = NIOLock()
    private static let loaded = NIOLockedValueBox([String: PKCS11Module]())

    private init(functionList: UInt) {
        self.functionList = functionList
    }

    static func load(_ path: String) throws -> PKCS11Module {
        try self.loaded.withLockedValue { modules in
            if let module = modules[path] { return module }
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
                throw PKCS11Error(
                    "load",
                    0,
                    detail: "the module \(path) cannot be loaded (\(reason)); install it (SoftHSM2: apt-get install softhsm2) or fix module-path"
                )
            }
            guard let symbol = dlsym(handle, "C_GetFunctionList") else {
                throw PKCS11Error("load", 0, detail: "\(path) is not a PKCS#11 module (no C_GetFunctionList)")
            }
            let getFunctionList = unsafeBitCast(symbol, to: CK_C_GetFunctionList.self)
            var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
            let rv = getFunctionList(&list)
            guard rv == TK_CKR_OK, let list else { throw PKCS11Error("C_GetFunctionList", rv) }
            var args = CK_C_INITIALIZE_ARGS(
                CreateMutex: nil,
                DestroyMutex: nil,
                LockMutex: nil,
                UnlockMutex: nil,
                flags: TK_CKF_OS_LOCKING_OK,
                pReserved: nil
            )
            let initialized = list.pointee.C_Initialize(&args)
            guard initialized == TK_CKR_OK || initialized == TK_CKR_CRYPTOKI_ALREADY_INITIALIZED else {
                throw PKCS11Error("C_Initialize", initialized)
            }
            let module = PKCS11Module(functionList: UInt(bitPattern: list))
            modules[path] = module
            return module
        }
    }

    func withFunctions<R>(_ body: (CK_FUNCTION_LIST) throws -> R) rethrows -> R {
        try self.lock.withLock {
            try body(UnsafeMutablePointer<CK_FUNCTION_LIST>(bitPattern: self.functionList)!.pointee)
        }
    }
}

/// Attributes for a call: values laid out in one buffer that is zeroed (it may hold a key) and freed afterwards.
struct PKCS11Template {
    var entries: [(CK_ATTRIBUTE_TYPE, [UInt8])] = []

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, ulong value: CK_ULONG) {
        self.entries.append((type, withUnsafeBytes(of: value) { Array($0) }))
    }

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, bool value: Bool) {
        self.entries.append((type, [value ? 1 : 0]))
    }

    mutating func add(_ type: CK_ATTRIBUTE_TYPE, bytes value: [UInt8]) {
        self.entries.append((type, value))
    }

    /// Zero the values (one may be a data key) before the template is dropped.
    mutating func wipe() {
        for index in self.entries.indices { self.entries[index].1.resetBytes() }
        self.entries.removeAll()
    }

    func withAttributes<R>(_ body: (UnsafeMutablePointer<CK_ATTRIBUTE>, CK_ULONG) throws -> R) rethrows -> R {
        let total = max(1, self.entries.reduce(0) { $0 + $1.1.count })
        let values = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 8)
        let attributes = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: max(1, self.entries.count))
        defer {
            values.initializeMemory(as: UInt8.self, repeating: 0)
            values.deallocate()
            attributes.deallocate()
        }
        var offset = 0
        for (index, (type, bytes)) in self.entries.enumerated() {
            let start = values.baseAddress! + offset
            bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            attributes[index] = CK_ATTRIBUTE(type: type, pValue: start, ulValueLen: CK_ULONG(bytes.count))
            offset += bytes.count
        }
        return try body(attributes, CK_ULONG(self.entries.count))
    }
}

public final class PKCS11Provider: KeyEncryptionKeyProvider {
    public let kind = "pkcs11"
    let location: PKCS11Location
    let module: PKCS11Module
    /// The logged-in session (a CK_SESSION_HANDLE), opened on first use.
    private let session = NIOLockedValueBox<CK_SESSION_HANDLE?>(nil)

    public init(location: PKCS11Location) throws {
        self.location = location
        self.module = try PKCS11Module.load(location.modulePath)
    }

    // MARK: KeyEncryptionKeyProvider

    public func wrap(_ dataKey: SecretBytes, key: String, context: SecretContext) async throws -> [UInt8] {
        let kek = try self.key(labelled: key, create: key == self.location.object)
        let session = try self.openSession()
        var template = PKCS11Template()
        template.add(TK_CKA_CLASS, ulong: TK_CKO_SECRET_KEY)
        template.add(TK_CKA_KEY_TYPE, ulong: TK_CKK_AES)
        template.add(TK_CKA_TOKEN, bool: false)
        template.add(TK_CKA_EXTRACTABLE, bool: true)
        template.add(TK_CKA_SENSITIVE, bool: false)
        dataKey.withUnsafeBytes { template.add(TK_CKA_VALUE, bytes: Array($0)) }
        defer { template.wipe() }
        return try self.module.withFunctions { f in
            var object: CK_OBJECT_HANDLE = 0
            let created = template.withAttributes { f.C_CreateObject(session, $0, $1, &object) }
            guard created == TK_CKR_OK else { throw PKCS11Error("C_CreateObject", created) }
            defer { _ = f.C_DestroyObject(session, object) }
            var mechanism = CK_MECHANISM(mechanism: TK_CKM_AES_KEY_WRAP_PAD, pParameter: nil, ulParameterLen: 0)
            var length: CK_ULONG = 0
            var rv = f.C_WrapKey(session, &mechanism, kek, object, nil, &length)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_WrapKey", rv) }
            var wrapped = [UInt8](repeating: 0, count: Int(length))
            rv = f.C_WrapKey(session, &mechanism, kek, object, &wrapped, &length)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_WrapKey", rv) }
            return Array(wrapped.prefix(Int(length))) + Self.tag(dataKey, context)
        }
    }

    public func unwrap(_ wrapped: [UInt8], key: String, context: SecretContext) async throws -> SecretBytes {
        guard wrapped.count > Self.tagLength else { throw VaultError.decryptionFailed }
        let kek = try self.key(labelled: key, create: false)
        let session = try self.openSession()
        var body = Array(wrapped.dropLast(Self.tagLength))
        let tag = Array(wrapped.suffix(Self.tagLength))
        var template = PKCS11Template()
        template.add(TK_CKA_CLASS, ulong: TK_CKO_SECRET_KEY)
        template.add(TK_CKA_KEY_TYPE, ulong: TK_CKK_AES)
        template.add(TK_CKA_TOKEN, bool: false)
        template.add(TK_CKA_EXTRACTABLE, bool: true)
        template.add(TK_CKA_SENSITIVE, bool: false)
        let dataKey: SecretBytes = try self.module.withFunctions { f in
            var mechanism = CK_MECHANISM(mechanism: TK_CKM_AES_KEY_WRAP_PAD, pParameter: nil, ulParameterLen: 0)
            var object: CK_OBJECT_HANDLE = 0
            let rv = template.withAttributes { f.C_UnwrapKey(session, &mechanism, kek, &body, CK_ULONG(body.count), $0, $1, &object) }
            guard rv == TK_CKR_OK else { throw VaultError.decryptionFailed }
            defer { _ = f.C_DestroyObject(session, object) }
            var value = [UInt8](repeating: 0, count: 64)
            defer { value.resetBytes() }
            var read = PKCS11Template()
            read.add(TK_CKA_VALUE, bytes: value)
            return try read.withAttributes { attributes, count in
                let got = f.C_GetAttributeValue(session, object, attributes, count)
                guard got == TK_CKR_OK else { throw PKCS11Error("C_GetAttributeValue", got) }
                let length = Int(attributes[0].ulValueLen)
                return SecretBytes(copying: UnsafeRawBufferPointer(start: attributes[0].pValue, count: length))
            }
        }
        // RFC 5649 carries no context: the tag binds the wrapped key to its record, as KMS's context does.
        guard ConstantTime.equals(Self.tag(dataKey, context), tag) else { throw VaultError.decryptionFailed }
        return dataKey
    }

    /// A new non-extractable key next to the configured one, named `<object>-<date>-<random>`.
    public func createKey() async throws -> String {
        let stamp = Date().formatted(
            .iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false).timeSeparator(.omitted)
        )
        let label = "\(self.location.object)-\(stamp)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        _ = try self.key(labelled: label, create: true)
        return label
    }

    /// Destroys the key object: only `vault prune` calls this, once no record uses the key.
    public func retireKey(_ key: String) async throws {
        guard let handle = try self.findKey(key) else { return }
        let session = try self.openSession()
        try self.module.withFunctions { f in
            let rv = f.C_DestroyObject(session, handle)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_DestroyObject", rv) }
        }
    }

    // MARK: Token access

    static let tagLength = 16

    static func tag(_ dataKey: SecretBytes, _ context: SecretContext) -> [UInt8] {
        Array(
            HMAC<SHA256>.authenticationCode(
                for: context.associatedData(label: "tradekeep/pkcs11-wrap", formatVersion: 1),
                using: dataKey.symmetricKey
            ).prefix(self.tagLength)
        )
    }

    func openSession() throws -> CK_SESSION_HANDLE {
        if let session = self.session.withLockedValue({ $0 }) { return session }
        let handle: CK_SESSION_HANDLE = try self.module.withFunctions { f in
            var count: CK_ULONG = 0
            var rv = f.C_GetSlotList(1, nil, &count)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_GetSlotList", rv) }
            var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
            rv = f.C_GetSlotList(1, &slots, &count)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_GetSlotList", rv) }
            var chosen: CK_SLOT_ID?
            for slot in slots.prefix(Int(count)) {
                var info = CK_TOKEN_INFO()
                guard f.C_GetTokenInfo(slot, &info) == TK_CKR_OK else { continue }
                let label = withUnsafeBytes(of: info.label) { String(decoding: $0, as: UTF8.self) }.trimmingCharacters(in: .whitespaces)
                if label == self.location.token {
                    chosen = slot
                    break
                }
            }
            guard let slot = chosen else { throw PKCS11Error("find token", 0, detail: "no token labelled \(self.location.token)") }
            var session: CK_SESSION_HANDLE = 0
            rv = f.C_OpenSession(slot, TK_CKF_SERIAL_SESSION | TK_CKF_RW_SESSION, nil, nil, &session)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_OpenSession", rv) }
            var pin = Array(self.location.pin.utf8)
            defer { pin.resetBytes() }
            rv = f.C_Login(session, TK_CKU_USER, &pin, CK_ULONG(pin.count))
            guard rv == TK_CKR_OK || rv == TK_CKR_USER_ALREADY_LOGGED_IN else {
                _ = f.C_CloseSession(session)
                throw PKCS11Error("C_Login", rv)
            }
            return session
        }
        return self.session.withLockedValue { current in
            if let current { return current }
            current = handle
            return handle
        }
    }

    func findKey(_ label: String) throws -> CK_OBJECT_HANDLE? {
        let session = try self.openSession()
        var template = PKCS11Template()
        template.add(TK_CKA_CLASS, ulong: TK_CKO_SECRET_KEY)
        template.add(TK_CKA_LABEL, bytes: Array(label.utf8))
        return try self.module.withFunctions { f in
            var rv = template.withAttributes { f.C_FindObjectsInit(session, $0, $1) }
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_FindObjectsInit", rv) }
            defer { _ = f.C_FindObjectsFinal(session) }
            var handle: CK_OBJECT_HANDLE = 0
            var found: CK_ULONG = 0
            rv = f.C_FindObjects(session, &handle, 1, &found)
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_FindObjects", rv) }
            return found == 1 ? handle : nil
        }
    }

    /// The key object with this label; created (AES-256, non-extractable, wrap/unwrap only) when `create` is set.
    func key(labelled label: String, create: Bool) throws -> CK_OBJECT_HANDLE {
        if let handle = try self.findKey(label) { return handle }
        guard create else { throw VaultError.unknownKEK(KEKReference(provider: self.kind, key: label)) }
        let session = try self.openSession()
        var template = PKCS11Template()
        template.add(TK_CKA_CLASS, ulong: TK_CKO_SECRET_KEY)
        template.add(TK_CKA_KEY_TYPE, ulong: TK_CKK_AES)
        template.add(TK_CKA_VALUE_LEN, ulong: 32)
        template.add(TK_CKA_TOKEN, bool: true)
        template.add(TK_CKA_PRIVATE, bool: true)
        template.add(TK_CKA_SENSITIVE, bool: true)
        template.add(TK_CKA_EXTRACTABLE, bool: false)
        template.add(TK_CKA_WRAP, bool: true)
        template.add(TK_CKA_UNWRAP, bool: true)
        template.add(TK_CKA_ENCRYPT, bool: false)
        template.add(TK_CKA_DECRYPT, bool: false)
        template.add(TK_CKA_LABEL, bytes: Array(label.utf8))
        return try self.module.withFunctions { f in
            var mechanism = CK_MECHANISM(mechanism: TK_CKM_AES_KEY_GEN, pParameter: nil, ulParameterLen: 0)
            var handle: CK_OBJECT_HANDLE = 0
            let rv = template.withAttributes { f.C_GenerateKey(session, &mechanism, $0, $1, &handle) }
            guard rv == TK_CKR_OK else { throw PKCS11Error("C_GenerateKey", rv) }
            return handle
        }
    }

    /// Whether the key object refuses to leave the token (CKA_EXTRACTABLE false, CKA_SENSITIVE true).
    func isNonExtractable(_ label: String) throws -> Bool {
        guard let handle = try self.findKey(label) else { return false }
        let session = try self.openSession()
        var template = PKCS11Template()
        template.add(TK_CKA_EXTRACTABLE, bytes: [0xFF])
        template.add(TK_CKA_SENSITIVE, bytes: [0xFF])
        return try self.module.withFunctions { f in
            try template.withAttributes { attributes, count in
                let rv = f.C_GetAttributeValue(session, handle, attributes, count)
                guard rv == TK_CKR_OK else { throw PKCS11Error("C_GetAttributeValue", rv) }
                let extractable = attributes[0].pValue.load(as: UInt8.self)
                let sensitive = attributes[1].pValue.load(as: UInt8.self)
                return extractable == 0 && sensitive == 1
            }
        }
    }
}
