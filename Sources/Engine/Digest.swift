import COpenSSL
import Foundation

/// SHA-256 through the system OpenSSL, as lowercase hex.
public func sha256Hex(_ data: Data) -> String {
    var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    data.withUnsafeBytes { bytes in
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &digest, nil, EVP_sha256(), nil)
    }
    return digest.map { String(format: "%02x", $0) }.joined()
}
