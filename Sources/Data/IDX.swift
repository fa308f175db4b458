import Engine
import Foundation

/// The IDX format of MNIST and Fashion-MNIST: a big-endian magic (0x0000 08 D: unsigned bytes,
/// D dimensions), D big-endian UInt32 sizes, then the bytes. Files may be gzip'd.
public enum IDX {
    static let imagesMagic: UInt32 = 0x0000_0803
    static let labelsMagic: UInt32 = 0x0000_0801

    /// Images as Float in [0, 1], (N, 1, H, W) flattened, with N, H, W.
    public static func readImages(_ path: String) throws -> (pixels: [Float], count: Int, height: Int, width: Int) {
        let data = try readMaybeGzipped(path)
        let sizes = try header(data, path: path, magic: imagesMagic, dimensions: 3)
        let (count, height, width) = (sizes[0], sizes[1], sizes[2])
        guard height > 0, width > 0 else { throw DataError.badSize(path, reason: "header promises images of \(height)×\(width) pixels") }
        // Sizes come from the file: the product is checked, so a forged header cannot wrap
        // around to the file's real size.
        let expected = elementCount([count, height, width]).flatMap { $0 <= Int.max - 16 ? $0 + 16 : nil }
        guard let expected, data.count == expected else {
            let promised = expected.map(String.init) ?? "more than \(Int.max)"
            throw DataError.badSize(path, reason: "header promises \(count) images of \(height)×\(width) (\(promised) bytes) but the file has \(data.count) bytes")
        }
        var pixels = [Float](repeating: 0, count: expected - 16)
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let source = bytes.bindMemory(to: UInt8.self).baseAddress! + 16
            for i in 0..<pixels.count { pixels[i] = Float(source[i]) * (1 / 255) }
        }
        return (pixels, count, height, width)
    }

    public static func readLabels(_ path: String) throws -> [Int32] {
        let data = try readMaybeGzipped(path)
        let count = try header(data, path: path, magic: labelsMagic, dimensions: 1)[0]
        guard data.count == 8 + count else {
            throw DataError.badSize(path, reason: "header promises \(count) labels (\(8 + count) bytes) but the file has \(data.count) bytes")
        }
        return data.dropFirst(8).map { Int32($0) }
    }

    private static func header(_ data: Data, path: String, magic: UInt32, dimensions: Int) throws -> [Int] {
        func word(_ index: Int) -> UInt32 {
            let start = data.startIndex + 4 * index
            return data[start..<start + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        guard data.count >= 4 + 4 * dimensions else {
            if data.count >= 4 && word(0) != magic { throw DataError.badMagic(path, found: word(0), expected: magic) }
            throw DataError.badSize(path, reason: "\(data.count) bytes is too short for an IDX header")
        }
        guard word(0) == magic else { throw DataError.badMagic(path, found: word(0), expected: magic) }
        return (1...dimensions).map { Int(word($0)) }
    }
}
