import COpenSSL

/// What OpenSSL said when a call failed: the operation and the library's queued error strings.
public struct OpenSSLFailure: Error, CustomStringConvertible {
    public let operation: String
    public let reasons: [String]

    /// Drains OpenSSL's thread-local error queue into a failure for `operation`.
    init(_ operation: String) {
        self.operation = operation
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.reasons = reasons
    }

    public var description: String {
        reasons.isEmpty ? "\(operation) failed" : "\(operation) failed: \(reasons.joined(separator: "; "))"
    }
}

/// Throws an `OpenSSLFailure` unless an OpenSSL call returned 1 (its success value).
func check(_ result: Int32, _ operation: String) throws {
    guard result == 1 else { throw OpenSSLFailure(operation) }
}
