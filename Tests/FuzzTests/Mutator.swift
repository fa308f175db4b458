import Engine
import Foundation

/// Seeded mutations of an input, byte-level or (for JSON) structural: every value a fuzz case
/// tries is fixed by the run's seed and the iteration number, so a failure is replayed by
/// running again with the same `TRACEMARK_FUZZ_SEED`.
struct Mutator {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    /// Numbers that broke size arithmetic, bounds and float conversions before (issue 18), and
    /// their neighbours.
    static let hostileNumbers: [String] = [
        "0", "-0", "1", "-1", "2", "255", "256", "65535", "65536", "2147483647", "2147483648", "4294967295", "4294967296",
        "-100000000", "100000000", "16777216", "4611686018427387904", "9223372036854775807", "-9223372036854775808",
        "18446744073709551615", "18446744073709551616", "1e308", "-1e308", "1e309", "3e39", "-3e39", "1e-320", "0.5", "-0.5",
        "1.0000001", "500", "0.99999999999", "1e6", "123456789012345678901234567890",
    ]

    static let hostileStrings: [String] = [
        "", "\\u0000", "a\\u0000b", "\\r\\nX-Injected: 1", "@127.0.0.1:1/", "\\\\evil", "../../../etc/passwd", "/",
        "http://127.0.0.1:1", "tracemark.watermark/v1", "crop-paste", "pixel-merge", "stripes", "autoencoder-blend",
        "content-trigger", "mea-defender", "trigger", "decoy", "control", "answered", "failed", "F32", "FP32", "INT64",
        String(repeating: "A", count: 5000), "\u{202E}rtl", "💥", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]

    /// Strings a decoded field may hold: other values of the enumerations the formats use, and
    /// what has broken paths, headers and names.
    static let stringValues: [String] = [
        "", "a\u{0}b", "\r\nX-Injected: 1", "@127.0.0.1:1/", "\\evil", "../x", "/", "http://127.0.0.1:1", "crop-paste", "pixel-merge",
        "stripes", "autoencoder-blend", "content-trigger", "mea-defender", "top", "bottom", "left", "right", "top-left", "vertical",
        "horizontal", "nchw", "nhwc", "flat", "png", "png-base64", "tensor", "test", "train", "fashion-mnist", "cifar10", "mnist-5k",
        "trigger", "decoy", "control", "answered", "failed", "template", "torchserve", "tf-serving", "open-inference-v2",
        String(repeating: "x", count: 3000),
    ]

    mutating func next(_ bound: Int) -> Int { Int(rng.next() % UInt64(max(bound, 1))) }

    /// One to four mutations of `input`; structural ones when it parses as JSON.
    mutating func mutate(_ input: Data) -> Data {
        var bytes = [UInt8](input)
        // Mostly one structural change, so that many inputs stay valid enough to reach the code
        // behind the parser; bytes and spliced tokens for the parser itself.
        let structural = next(4) != 0
        if structural, let json = try? JSONSerialization.jsonObject(with: input, options: [.fragmentsAllowed]) {
            var value = json
            for _ in 0..<(next(10) < 7 ? 1 : 2 + next(2)) { value = mutate(json: value, depth: 0) }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) {
                bytes = [UInt8](data)
                // Tokens JSONSerialization cannot produce itself (huge integers, bare exponents,
                // escapes) go in by text, over a number or string it did write.
                if next(5) == 0 { bytes = spliceToken(into: bytes) }
                return Data(bytes)
            }
        }
        for _ in 0...next(4) { mutate(bytes: &bytes) }
        return Data(bytes)
    }

    private mutating func mutate(bytes: inout [UInt8]) {
        switch next(8) {
        case 0 where !bytes.isEmpty:
            bytes[next(bytes.count)] ^= 1 << UInt8(next(8))
        case 1 where !bytes.isEmpty:
            bytes[next(bytes.count)] = [0, 0xFF, 0x7F, 0x80, 0x22, 0x5C, 0x2D, 0x39][next(8)]
        case 2:
            let at = next(bytes.count + 1)
            bytes.insert(contentsOf: (0..<(1 + next(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 3 where !bytes.isEmpty:
            let start = next(bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + next(64)))
        case 4 where !bytes.isEmpty:
            let start = next(bytes.count)
            let piece = bytes[start..<min(bytes.count, start + 1 + next(256))]
            bytes.insert(contentsOf: piece, at: next(bytes.count + 1))
        case 5 where !bytes.isEmpty:
            bytes.removeLast(next(bytes.count) + 1)
        case 6 where bytes.count >= 8:
            // A little-endian or big-endian word overwritten: size fields of binary headers.
            let at = next(bytes.count - 7)
            let value = [UInt64.max, UInt64(1) << 62, UInt64(UInt32.max), 0x0100_0000, 0, UInt64(Int64.max), 65536, 1 << 32][next(8)]
            for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: next(2) == 0 ? value >> (8 * UInt64(i)) : value >> (8 * UInt64(7 - i))) }
        default:
            bytes = spliceToken(into: bytes)
        }
    }

    /// A hostile number or string put over a number or quoted string of the text, or inserted.
    private mutating func spliceToken(into bytes: [UInt8]) -> [UInt8] {
        let token = next(2) == 0 ? Self.hostileNumbers[next(Self.hostileNumbers.count)] : "\"" + Self.hostileStrings[next(Self.hostileStrings.count)] + "\""
        guard !bytes.isEmpty else { return Array(token.utf8) }
        var start = next(bytes.count)
        let isNumberByte: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 || $0 == 0x2B }
        if let digit = bytes[start...].firstIndex(where: isNumberByte) {
            start = digit
            var end = start
            while end < bytes.count && isNumberByte(bytes[end]) { end += 1 }
            return Array(bytes[..<start]) + Array(token.utf8) + Array(bytes[end...])
        }
        return Array(bytes[..<start]) + Array(token.utf8) + Array(bytes[start...])
    }

    private mutating func mutate(json value: Any, depth: Int) -> Any {
        // Descend most of the time, so deep fields get hit as often as top-level ones.
        if depth < 12, next(4) != 0 {
            if var object = value as? [String: Any], !object.isEmpty {
                let keys = object.keys.sorted()
                let key = keys[next(keys.count)]
                switch next(20) {
                case 0: object[key] = nil
                case 1: object[key + (next(2) == 0 ? "_x" : "")] = hostileValue()
                default: object[key] = mutate(json: object[key]!, depth: depth + 1)
                }
                return object
            }
            if var list = value as? [Any], !list.isEmpty {
                let index = next(list.count)
                switch next(20) {
                case 0: list.remove(at: index)
                case 1: list.append(contentsOf: Array(repeating: list[index], count: 1 + next(40)))
                case 2: list.insert(hostileValue(), at: index)
                default: list[index] = mutate(json: list[index], depth: depth + 1)
                }
                return list
            }
        }
        return hostileValue(replacing: value)
    }

    private mutating func hostileValue(replacing old: Any? = nil) -> Any {
        if old is NSNumber, next(5) != 0 {
            let numbers: [Any] = [0, -1, 1, 2, 3, 7, 9, 10, 11, 28, 99, 255, 1 << 31, 1 << 32, 1 << 62, Int.max, Int.min, -100_000_000,
                                  0.5, -0.5, 1.5, 500.0, 1e300, -1e300, 3e39, 1e-300, 1.0 - 1e-12]
            return numbers[next(numbers.count)]
        }
        if old is String, next(4) != 0 { return Self.stringValues[next(Self.stringValues.count)] }
        switch next(7) {
        case 0: return NSNull()
        case 1: return [Any]()
        case 2: return [String: Any]()
        case 3: return next(2) == 0
        case 4: return Array(repeating: next(2) == 0 ? 1 : 0.5, count: next(2000))
        case 5: return Self.stringValues[next(Self.stringValues.count)]
        default: return [Int.max, -1, 0, 1 << 62, 28, 3e39][next(6)]
        }
    }
}
