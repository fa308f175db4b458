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

/// Whether `text` is a SHA-256 as `sha256Hex` writes it: 64 lowercase hex digits.
public func isSHA256Hex(_ text: String) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}
