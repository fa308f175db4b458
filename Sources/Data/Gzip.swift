import CZlib
import Foundation

/// The most a data file may hold, on disk or inflated: about five times the largest file
/// Tracemark reads (Fashion-MNIST's training images, 47 MB inflated), so a gzip bomb or a
/// forged file stops there instead of filling memory.
let largestDataFileBytes = 256 << 20

/// The bytes of a file, inflated when it is gzip'd (magic 1f 8b) and as they are otherwise.
func readMaybeGzipped(_ path: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw DataError.missingFile(path, hint: "") }
    let raw: Data
    do {
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        guard size <= largestDataFileBytes else {
            throw DataError.badSize(path, reason: "\(size) bytes is more than the \(largestDataFileBytes) a data file may hold")
        }
        raw = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch let error as DataError {
        throw error
    } catch {
        throw DataError.unreadable(path, reason: error.localizedDescription)
    }
    guard raw.count >= 2, raw[raw.startIndex] == 0x1F, raw[raw.startIndex + 1] == 0x8B else { return raw }
    return try gunzip(raw, path: path)
}

/// Inflates a gzip stream with the system zlib.
func gunzip(_ compressed: Data, path: String) throws -> Data {
    var stream = z_stream()
    // 16 + MAX_WBITS: expect a gzip header and trailer rather than a raw zlib stream.
    guard tm_inflate_init2(&stream, 16 + MAX_WBITS) == Z_OK else {
        throw DataError.corruptGzip(path, reason: "zlib would not initialise")
    }
    defer { inflateEnd(&stream) }
    var output = Data()
    let chunk = 1 << 20
    var buffer = [UInt8](repeating: 0, count: chunk)
    var status: Int32 = Z_OK
    try compressed.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
        stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(input.count)
        repeat {
            let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(chunk)
                status = inflate(&stream, Z_NO_FLUSH)
                return chunk - Int(stream.avail_out)
            }
            guard status == Z_OK || status == Z_STREAM_END else {
                let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw DataError.corruptGzip(path, reason: message)
            }
            guard output.count <= largestDataFileBytes - produced else {
                throw DataError.badSize(path, reason: "inflates to more than the \(largestDataFileBytes) bytes a data file may hold (a gzip bomb?)")
            }
            output.append(contentsOf: buffer[0..<produced])
            if status == Z_OK && stream.avail_in == 0 && produced == 0 {
                throw DataError.corruptGzip(path, reason: "stream ends early (truncated file?)")
            }
        } while status != Z_STREAM_END
    }
    return output
}
