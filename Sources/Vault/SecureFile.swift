// Files that hold secrets: created 0600, written atomically, checked for loose permissions.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum SecureFileError: Error, Equatable, CustomStringConvertible {
    case notADirectory(path: String)
    case symbolicLink(path: String)
    case io(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .notADirectory(let path): "\(path) exists and is not a directory"
        case .symbolicLink(let path): "\(path) is a symbolic link; secret files must be regular files"
        case .io(let path, let operation, let code): "\(operation) \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// File-system operations for the data folder and the secrets in it.
public enum SecureFile {
    public static let directoryMode: mode_t = 0o700
    public static let fileMode: mode_t = 0o600

    /// Create `url` (and parents) as a 0700 directory, or return whether an existing one had looser permissions.
    @discardableResult
    public static func ensureDirectory(_ url: URL) throws -> (created: Bool, previousMode: mode_t?) {
        var info = stat()
        if lstat(url.path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFLNK {
                // Follow a symlinked data folder (a common deployment choice) but check its target.
                guard stat(url.path, &info) == 0 else { throw SecureFileError.io(path: url.path, operation: "stat", errno: errno) }
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw SecureFileError.notADirectory(path: url.path) }
            return (false, info.st_mode & 0o777)
        }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(directoryMode)])
        // createDirectory applies the umask; set the mode explicitly.
        guard chmod(url.path, directoryMode) == 0 else { throw SecureFileError.io(path: url.path, operation: "chmod", errno: errno) }
        return (true, nil)
    }

    /// Permission bits of a file or directory, or nil when it does not exist.
    public static func mode(of url: URL) -> mode_t? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }

    /// True when group or others have any access.
    public static func isAccessibleByOthers(_ mode: mode_t) -> Bool { mode & 0o077 != 0 }

    public static func setMode(_ mode: mode_t, of url: URL) throws {
        guard chmod(url.path, mode) == 0 else { throw SecureFileError.io(path: url.path, operation: "chmod", errno: errno) }
    }

    public static func exists(_ url: URL) -> Bool {
        var info = stat()
        return lstat(url.path, &info) == 0
    }

    /// Read a whole regular file (no symlinks).
    public static func read(_ url: URL) throws -> [UInt8] {
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw SecureFileError.symbolicLink(path: url.path) }
            throw SecureFileError.io(path: url.path, operation: "open", errno: code)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        defer { chunk.resetBytes() }
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SecureFileError.io(path: url.path, operation: "read", errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Create a 0600 file holding `bytes` atomically: write a temporary file, fsync it, rename it into place,
    /// fsync the folder. With `overwrite: false` an existing file is an error (EEXIST), never replaced.
    public static func write(_ bytes: [UInt8], to url: URL, overwrite: Bool = false) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UInt64.random(in: .min ... .max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw SecureFileError.io(path: temporary.path, operation: "create", errno: errno) }
        var renamed = false
        defer { if !renamed { unlink(temporary.path) } }
        do {
            defer { close(fd) }
            guard fchmod(fd, fileMode) == 0 else { throw SecureFileError.io(path: temporary.path, operation: "chmod", errno: errno) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SecureFileError.io(path: temporary.path, operation: "write", errno: errno)
                }
                offset += written
            }
            guard fsync(fd) == 0 else { throw SecureFileError.io(path: temporary.path, operation: "fsync", errno: errno) }
        }
        if overwrite {
            guard rename(temporary.path, url.path) == 0 else { throw SecureFileError.io(path: url.path, operation: "rename", errno: errno) }
        } else {
            // link() fails with EEXIST instead of replacing, so two processes racing on first start cannot
            // overwrite each other's freshly generated secret.
            guard link(temporary.path, url.path) == 0 else { throw SecureFileError.io(path: url.path, operation: "create", errno: errno) }
            unlink(temporary.path)
        }
        renamed = true
        syncDirectory(directory)
    }

    private static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// Create an empty 0600 file if none exists (so a database created in it starts private).
    public static func touch(_ url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw SecureFileError.io(path: url.path, operation: "create", errno: errno) }
        close(fd)
    }
}
