import COpenSSL
import Foundation

/// scrypt (RFC 7914) parameters, stored beside what they protect so the key can be re-derived.
public struct ScryptParameters: Codable, Equatable, Sendable {
    /// CPU/memory cost N (a power of two), block size r, parallelism p.
    public var n: UInt64
    public var r: UInt64
    public var p: UInt64
    public var salt: Data

    /// N = 2^15, r = 8, p = 1: 32 MiB and about 0.1 s here, the usual interactive setting.
    public static func fresh(n: UInt64 = 1 << 15, r: UInt64 = 8, p: UInt64 = 1) throws -> ScryptParameters {
        ScryptParameters(n: n, r: r, p: p, salt: try secureRandomBytes(16))
    }

    /// A 32-byte key from `passphrase`.
    public func deriveKey(from passphrase: String) throws -> Data {
        guard n > 1, n & (n - 1) == 0, r >= 1, p >= 1, n <= 1 << 22, r * p < 1 << 30 else {
            throw VaultError.damaged("scrypt parameters N=\(n) r=\(r) p=\(p) are out of range")
        }
        var key = [UInt8](repeating: 0, count: 32)
        let memory = 128 * r * (n + p + 2) + (1 << 20)
        let password = Array(passphrase.utf8)
        try salt.withUnsafeBytes { salt in
            try check(EVP_PBE_scrypt(password.map { CChar(bitPattern: $0) }, password.count,
                                     salt.bindMemory(to: UInt8.self).baseAddress, salt.count, n, r, p, memory, &key, key.count),
                      "scrypt")
        }
        return Data(key)
    }
}
