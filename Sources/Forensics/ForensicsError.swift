import Foundation

public enum ForensicsError: Error, CustomStringConvertible {
    case invalid(String)
    case unreadable(path: String)

    public var description: String {
        switch self {
        case .invalid(let reason): return reason
        case .unreadable(let path): return "cannot read \(path)"
        }
    }
}
