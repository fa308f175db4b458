import CZlib
import Foundation

/// A minimal PNG writer: 8-bit grayscale (1 channel) or RGB (3 channels) from pixels in [0, 1],
/// one IDAT chunk compressed with zlib. Enough for APIs that take images.
enum PNG {
    static func encode(_ pixels: [Float], channels: Int, height: Int, width: Int) -> Data {
        precondition(channels == 1 || channels == 3, "PNG takes 1 or 3 channels")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * channels + 1))
        for y in 0..<height {
            raw.append(0)  // filter type: none
            for x in 0..<width {
                for c in 0..<channels {
                    let value = pixels[(c * height + y) * width + x]
                    raw.append(UInt8(max(0, min(255, (value * 255).rounded()))))
                }
            }
        }
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header.append(contentsOf: [8, channels == 1 ? 0 : 2, 0, 0, 0])
        png.appendChunk("IHDR", header)
        png.appendChunk("IDAT", deflate(raw))
        png.appendChunk("IEND", Data())
        return png
    }

    private static func deflate(_ bytes: [UInt8]) -> Data {
        var bound = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(bound))
        // compress2 fails only when the output buffer is too small, which compressBound rules out.
        precondition(compress2(&output, &bound, bytes, uLong(bytes.count), 6) == Z_OK, "zlib compress2 failed")
        return Data(output.prefix(Int(bound)))
    }
}

private extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
    }

    mutating func appendChunk(_ type: String, _ contents: Data) {
        appendBigEndian(UInt32(contents.count))
        let typed = Data(type.utf8) + contents
        append(typed)
        let checksum = typed.withUnsafeBytes { crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, uInt($0.count)) }
        appendBigEndian(UInt32(checksum))
    }
}
