import Foundation

/// The one JSON form Tracemark signs and hashes: keys sorted by their UTF-8 bytes, no whitespace,
/// UTF-8, `/` unescaped, snake_case keys; integers and integral numbers without a fraction,
/// other numbers in the shortest form that reads back to the same Double (`0.1`, `1e-07`).
/// Verifiers check the exact bytes that were signed and never re-encode what they parsed.
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: data)
    }
}

extension Decoder {
    /// Runs a type's validating initialiser on the raw fields just decoded. A refusal becomes a
    /// decoding error at this place in the document (so the message says where), keeping the
    /// typed refusal as its underlying error.
    public func validated<T>(_ make: () throws -> T) throws -> T {
        do {
            return try make()
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(error)", underlyingError: error))
        }
    }
}

/// A JSON decoding error in a line: what was wrong and where.
public func describeDecodingError(_ error: Error) -> String {
    guard let decoding = error as? DecodingError else { return "\(error)" }
    func place(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "" : " at \(path)"
    }
    switch decoding {
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(place(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return context.debugDescription + place(context)
    @unknown default: return "\(decoding)"
    }
}
