import Foundation

/// A document that is not what it claims to be: the reason names the part that is wrong.
public enum ForensicsError: Error, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): return reason
        }
    }
}
