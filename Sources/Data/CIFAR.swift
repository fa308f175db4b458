import Foundation

/// The CIFAR-10 binary format: records of one label byte and 3×32×32 pixel bytes (channel-major).
public enum CIFAR10 {
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let recordSize = 1 + 3 * 32 * 32

    /// Reads one or more batch files (`data_batch_1.bin` …) into one data set.
    public static func read(_ paths: [String], name: String) throws -> Dataset {
        var pixels: [Float] = []
        var labels: [Int32] = []
        for path in paths {
            let data = try readMaybeGzipped(path)
            guard !data.isEmpty, data.count % recordSize == 0 else {
                throw DataError.badSize(path, reason: "\(data.count) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records")
            }
            let records = data.count / recordSize
            pixels.reserveCapacity(pixels.count + records * (recordSize - 1))
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let bytes = raw.bindMemory(to: UInt8.self)
                for r in 0..<records {
                    let label = bytes[r * recordSize]
                    guard label < 10 else {
                        throw DataError.badSize(path, reason: "record \(r) has label \(label); CIFAR-10 labels are 0–9")
                    }
                    labels.append(Int32(label))
                    for i in 1..<recordSize { pixels.append(Float(bytes[r * recordSize + i]) * (1 / 255)) }
                }
            }
        }
        return Dataset(name: name, itemShape: [3, 32, 32], images: pixels, labels: labels, classNames: classNames)
    }
}
