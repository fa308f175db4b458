import COpenSSL
import Foundation

/// Cryptographically secure random bytes from OpenSSL's default generator.
public func secureRandomBytes(_ count: Int) throws -> Data {
    var bytes = [UInt8](repeating: 0, count: count)
    try check(RAND_bytes(&bytes, Int32(count)), "RAND_bytes")
    return Data(bytes)
}
