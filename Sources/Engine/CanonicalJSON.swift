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
