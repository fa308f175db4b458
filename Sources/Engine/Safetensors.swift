import Foundation

#if !_endian(little)
#error("safetensors I/O copies Float bytes as they are, which assumes a little-endian host")
#endif

/// The safetensors file format, F32 only: an 8-byte little-endian header length N, N bytes of
/// JSON (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`,
/// offsets relative to the end of the header), then the tensors' little-endian bytes, contiguous.
public struct Safetensors: Equatable {
    public struct Entry: Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public var entries: [Entry]
    public var metadata: [String: String]

    public init(entries: [Entry], metadata: [String: String]) {
        self.entries = entries
        self.metadata = metadata
    }

    public subscript(name: String) -> Entry? { entries.first { $0.name == name } }

    /// The file's bytes. Tensors are laid out in `entries` order; the header is padded with
    /// spaces to a multiple of 8 bytes so the data that follows stays aligned.
    public func encoded() -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for entry in entries {
            let size = entry.values.count * MemoryLayout<Float>.size
            header[entry.name] = ["dtype": "F32", "shape": entry.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        for entry in entries {
            entry.values.withUnsafeBytes { file.append(contentsOf: $0) }
        }
        return file
    }

    /// Parses a file's bytes, checking every size and offset; `path` only names the file in errors.
    public init(decoding file: Data, path: String) throws {
        func fail(_ reason: String) -> EngineError { .checkpoint(path: path, reason: reason) }
        guard file.count >= 8 else { throw fail("file is \(file.count) bytes, too short for a safetensors header (truncated?)") }
        let headerLength = file.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= 100_000_000, Int(headerLength) <= file.count - 8 else {
            throw fail("header length \(headerLength) exceeds the file's \(file.count - 8) remaining bytes (truncated or not safetensors)")
        }
        let headerStart = file.startIndex + 8, dataStart = headerStart + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: file[headerStart..<dataStart]) as? [String: Any] else {
            throw fail("header is not a JSON object (corrupted?)")
        }
        let dataLength = file.count - 8 - Int(headerLength)
        var metadata: [String: String] = [:]
        var located: [(begin: Int, entry: Entry)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                metadata = strings
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else { throw fail("tensor '\(name)' has dtype \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataLength else {
                throw fail("tensor '\(name)' spans bytes \(begin)..<\(end) but the data is \(dataLength) bytes (truncated?)")
            }
            guard let count = elementCount(shape), let bytes = elementCount([count, MemoryLayout<Float>.size]), end - begin == bytes else {
                throw fail("tensor '\(name)' has shape \(shape) but \(end - begin) bytes")
            }
            var values = [Float](repeating: 0, count: count)
            file.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                values.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(8 + Int(headerLength) + begin)..<(8 + Int(headerLength) + end)])) }
            }
            located.append((begin, Entry(name: name, shape: shape, values: values)))
        }
        // An empty tensor starts where the next one does; ordering by size too puts it first.
        located.sort { ($0.begin, $0.entry.values.count) < ($1.begin, $1.entry.values.count) }
        var expected = 0
        for item in located {
            guard item.begin == expected else { throw fail("tensor data is not contiguous at '\(item.entry.name)'") }
            expected += item.entry.values.count * 4
        }
        guard expected == dataLength else { throw fail("\(dataLength - expected) trailing bytes after the last tensor") }
        entries = located.map(\.entry)
        self.metadata = metadata
    }
}
