import COpenSSL
import Foundation

/// AES-256-GCM with a 96-bit random nonce and a 128-bit tag.
public enum AESGCM {
    public static let keySize = 32, nonceSize = 12, tagSize = 16

    public struct Box: Codable, Equatable, Sendable {
        public var nonce: Data
        public var ciphertext: Data
        public var tag: Data
    }

    /// Encrypts `plaintext` under `key`, authenticating `associatedData` as well.
    public static func seal(_ plaintext: Data, key: Data, associatedData: Data) throws -> Box {
        precondition(key.count == keySize, "AES-256 takes a 32-byte key")
        let nonce = try secureRandomBytes(nonceSize)
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLFailure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: tagSize)
        var length: Int32 = 0, finalLength: Int32 = 0
        try key.withUnsafeBytes { key in
            try nonce.withUnsafeBytes { nonce in
                try check(EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bindMemory(to: UInt8.self).baseAddress,
                                             nonce.bindMemory(to: UInt8.self).baseAddress), "AES-256-GCM init")
            }
        }
        try associatedData.withUnsafeBytes { aad in
            var ignored: Int32 = 0
            try check(EVP_EncryptUpdate(context, nil, &ignored, aad.bindMemory(to: UInt8.self).baseAddress, Int32(aad.count)),
                      "AES-256-GCM associated data")
        }
        try plaintext.withUnsafeBytes { input in
            try check(EVP_EncryptUpdate(context, &ciphertext, &length, input.bindMemory(to: UInt8.self).baseAddress, Int32(input.count)),
                      "AES-256-GCM encrypt")
        }
        try ciphertext.withUnsafeMutableBufferPointer { output in
            try check(EVP_EncryptFinal_ex(context, output.baseAddress! + Int(length), &finalLength), "AES-256-GCM final")
        }
        try check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), &tag), "AES-256-GCM tag")
        return Box(nonce: nonce, ciphertext: Data(ciphertext.prefix(Int(length + finalLength))), tag: Data(tag))
    }

    /// Decrypts a box; nil when the key, the associated data or any byte of the box is wrong.
    public static func open(_ box: Box, key: Data, associatedData: Data) -> Data? {
        guard key.count == keySize, box.nonce.count == nonceSize, box.tag.count == tagSize,
              let context = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }
        var plaintext = [UInt8](repeating: 0, count: box.ciphertext.count + 16)
        var length: Int32 = 0, finalLength: Int32 = 0, ignored: Int32 = 0
        var tag = [UInt8](box.tag)
        let opened: Bool = key.withUnsafeBytes { key in
            box.nonce.withUnsafeBytes { nonce in
                associatedData.withUnsafeBytes { aad in
                    box.ciphertext.withUnsafeBytes { input in
                        plaintext.withUnsafeMutableBufferPointer { output in
                            EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bindMemory(to: UInt8.self).baseAddress,
                                               nonce.bindMemory(to: UInt8.self).baseAddress) == 1
                                && EVP_DecryptUpdate(context, nil, &ignored, aad.bindMemory(to: UInt8.self).baseAddress, Int32(aad.count)) == 1
                                && EVP_DecryptUpdate(context, output.baseAddress, &length, input.bindMemory(to: UInt8.self).baseAddress,
                                                     Int32(input.count)) == 1
                                && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), &tag) == 1
                                && EVP_DecryptFinal_ex(context, output.baseAddress! + Int(length), &finalLength) == 1
                        }
                    }
                }
            }
        }
        ERR_clear_error()
        return opened ? Data(plaintext.prefix(Int(length + finalLength))) : nil
    }
}
