import COpenSSL
import Foundation

/// SHA-256 through the system OpenSSL.
public func sha256(_ data: Data) -> Data {
    var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    data.withUnsafeBytes { bytes in
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &digest, nil, EVP_sha256(), nil)
    }
    return Data(digest)
}

/// SHA-256 as lowercase hex.
public func sha256Hex(_ data: Data) -> String { hex(sha256(data)) }

/// Lowercase hex of some bytes.
public func hex(_ data: Data) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(data.count * 2)
    for byte in data {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
}
