/// What can go wrong when building, saving or loading a network.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case unknownArchitecture(String)
    case badInputShape([Int])
    case invalidModelCard(String)
    case checkpoint(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name):
            return "unknown architecture '\(name)'; choose one of: \(ModelZoo.architectures.joined(separator: ", "))"
        case .badInputShape(let shape):
            return "input shape \(shape) is not a (channels, height, width) item of at least 8×8"
        case .invalidModelCard(let reason):
            return "invalid model card: \(reason)"
        case let .checkpoint(path, reason):
            return "checkpoint \(path): \(reason)"
        }
    }
}
