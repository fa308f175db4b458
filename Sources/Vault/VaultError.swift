/// Why a vault operation could not be done, in words an owner can act on.
public enum VaultError: Error, CustomStringConvertible, Equatable {
    /// The passphrase or key file does not open the key or record.
    case wrongPassphrase(String)
    /// A key file that is not a usable Ed25519 key.
    case badKey(String)
    /// Stored data that fails its checks.
    case damaged(String)
    /// The database could not be opened, read or written.
    case storage(path: String, reason: String)
    case notFound(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .wrongPassphrase(let reason): return "wrong passphrase or key file: \(reason); nothing was written"
        case .badKey(let reason): return "unusable key: \(reason)"
        case .damaged(let reason): return "vault damaged: \(reason)"
        case .storage(let path, let reason): return "vault database \(path): \(reason)"
        case .notFound(let what): return "\(what) not found"
        case .invalidInput(let reason): return reason
        }
    }
}
