import Foundation
import XCTest
@testable import Engine

final class SafetensorsTests: XCTestCase {
    private let sample = Safetensors(entries: [
        .init(name: "layers.0.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
        .init(name: "layers.0.bias", shape: [2], values: [-1, 0.5]),
    ], metadata: ["architecture": "mlp", "note": "ünïcode"])

    func testRoundTrip() throws {
        let decoded = try Safetensors(decoding: sample.encoded(), path: "memory")
        XCTAssertEqual(decoded.metadata, sample.metadata)
        XCTAssertEqual(decoded["layers.0.weight"], sample.entries[0])
        XCTAssertEqual(decoded["layers.0.bias"], sample.entries[1])
    }

    /// An empty tensor shares its offset with the tensor after it; the header's order (a JSON
    /// object's, which decoding does not keep) must not decide whether the file reads.
    func testEmptyTensorsDecodeWhereverTheyStand() throws {
        for n in 0..<16 {
            let file = Safetensors(entries: [
                .init(name: "a\(n)", shape: [2], values: [1, 2]),
                .init(name: "empty\(n)", shape: [0, 3], values: []),
                .init(name: "b\(n)", shape: [1], values: [3]),
            ], metadata: [:])
            let decoded = try Safetensors(decoding: file.encoded(), path: "memory")
            XCTAssertEqual(decoded["empty\(n)"]?.shape, [0, 3])
            XCTAssertEqual(decoded["b\(n)"]?.values, [3])
        }
    }

    func testLayoutFollowsTheSpecification() throws {
        let bytes = [UInt8](sample.encoded())
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to 8 bytes")
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as! [String: Any]
        let weight = header["layers.0.weight"] as! [String: Any]
        XCTAssertEqual(weight["dtype"] as? String, "F32")
        XCTAssertEqual(weight["shape"] as? [Int], [2, 3])
        XCTAssertEqual(weight["data_offsets"] as? [Int], [0, 24])
        XCTAssertEqual((header["layers.0.bias"] as! [String: Any])["data_offsets"] as? [Int], [24, 32])
        XCTAssertEqual(bytes.count, 8 + headerLength + 32)
        // 1.0 as little-endian IEEE-754 single precision.
        XCTAssertEqual(Array(bytes[(8 + headerLength)..<(12 + headerLength)]), [0x00, 0x00, 0x80, 0x3F])
    }

    func testTruncatedFilesAreRejectedWithAClearError() {
        let bytes = sample.encoded()
        for length in [0, 5, 8, 20, bytes.count - 1] {
            XCTAssertThrowsError(try Safetensors(decoding: bytes.prefix(length), path: "model.safetensors")) { error in
                XCTAssertTrue("\(error)".contains("model.safetensors"), "\(error)")
            }
        }
    }

    func testCorruptedHeadersAreRejected() {
        var bytes = [UInt8](sample.encoded())
        bytes[9] = UInt8(ascii: "#")   // breaks the JSON
        XCTAssertThrowsError(try Safetensors(decoding: Data(bytes), path: "x")) { XCTAssertTrue("\($0)".contains("JSON")) }

        var huge = [UInt8](sample.encoded())
        huge[7] = 0x7F                 // header length far beyond the file
        XCTAssertThrowsError(try Safetensors(decoding: Data(huge), path: "x")) { XCTAssertTrue("\($0)".contains("header length")) }

        let wrongType = Safetensors(entries: [], metadata: [:]).encoded()
        let json = #"{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#
        var file = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(Data(json.utf8))
        file.append(contentsOf: [0, 0])
        XCTAssertThrowsError(try Safetensors(decoding: file, path: "x")) { XCTAssertTrue("\($0)".contains("F16")) }
        XCTAssertNoThrow(try Safetensors(decoding: wrongType, path: "empty"))
    }

    /// A file of `json` as its header and `data` after it.
    private func file(_ json: String, data: [UInt8] = []) -> Data {
        var file = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(Data(json.utf8))
        file.append(contentsOf: data)
        return file
    }

    /// Issue 18: a tensor of shape [2^62] with 0 bytes passed the size check (2^62 × 4 wrapped to 0).
    func testShapesWhoseByteCountOverflowsAreRefused() {
        for shape in ["[4611686018427387904]", "[4294967296,4294967296]", "[2,4611686018427387904,0]"] {
            let forged = file(#"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,0]}}"#)
            XCTAssertThrowsError(try Safetensors(decoding: forged, path: "forged.safetensors"), shape) {
                XCTAssertTrue("\($0)".contains("forged.safetensors") && "\($0)".contains("'w'"), "\($0)")
            }
        }
        XCTAssertNoThrow(try Safetensors(decoding: file(#"{"w":{"dtype":"F32","shape":[3,0],"data_offsets":[0,0]}}"#), path: "empty"))
    }

    func testOffsetsMustBeNonNegativeIntegersInsideTheData() {
        for offsets in ["[-4,0]", "[0,-4]", "[4,0]", "[0,4.5]", "[0,1e300]", "[0,9223372036854775807]", "[0]", "[\"0\",\"4\"]"] {
            let forged = file(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":"# + offsets + "}}", data: [0, 0, 0, 0])
            XCTAssertThrowsError(try Safetensors(decoding: forged, path: "x"), offsets)
        }
        for shape in ["[-1]", "[1.5]", "[1e30]", "[\"4\"]"] {
            let forged = file(#"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
            XCTAssertThrowsError(try Safetensors(decoding: forged, path: "x"), shape)
        }
    }
}

final class CheckpointTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    private func classifier(_ architecture: String, seed: UInt64) throws -> Classifier {
        let network = try ModelZoo.make(architecture, inputShape: [1, 28, 28], classes: 10, seed: seed)
        let card = try ModelCard(architecture: architecture, inputShape: [1, 28, 28], classNames: (0..<10).map { "class \($0)" },
                             mean: [0.286], std: [0.353])
        return Classifier(network: network, card: card)
    }

    func testSaveAndLoadGiveTheSameModel() throws {
        for architecture in ModelZoo.architectures {
            let original = try classifier(architecture, seed: 3)
            // Move the BatchNorm running statistics off their defaults so they are checked too.
            let images = GradientCheck.randomValues(4 * 784, seed: 4, range: 0...1)
            let input = Tensor(shape: [4, 1, 28, 28], values: images)
            _ = original.network.forward(input, training: true)
            let path = NSTemporaryDirectory() + "tracemark-\(architecture)-\(UUID().uuidString).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Checkpoint.save(original, to: path)
            let loaded = try Checkpoint.load(path)
            XCTAssertEqual(loaded.card, original.card)
            for ((name, a), (_, b)) in zip(original.network.namedParameters, loaded.network.namedParameters) {
                XCTAssertEqual(a.values, b.values, name)
            }
            let (x, y) = images.withUnsafeBufferPointer { (original.logits($0).values, loaded.logits($0).values) }
            XCTAssertEqual(x, y)
        }
    }

    func testWrongArchitectureOrMissingTensorsAreNamed() throws {
        let model = try classifier("mlp", seed: 1)
        var file = try Safetensors(decoding: Checkpoint.encode(model), path: "m")
        file.entries.removeFirst()
        XCTAssertThrowsError(try Checkpoint.decode(file.encoded(), path: "m.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("layers.1.weight") && "\(error)".contains("missing"), "\(error)")
        }
        var unknown = try Safetensors(decoding: Checkpoint.encode(model), path: "m")
        unknown.metadata["architecture"] = "alexnet"
        XCTAssertThrowsError(try Checkpoint.decode(unknown.encoded(), path: "m")) { XCTAssertTrue("\($0)".contains("alexnet")) }
        XCTAssertThrowsError(try Checkpoint.load("/nonexistent/model.safetensors")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/model.safetensors"))
        }
    }

    /// A model card is checked before a network is built from it: a forged input shape or class
    /// count would otherwise allocate layers without bound or trap in the classifier.
    func testForgedModelCardsAreRefusedBeforeTheNetworkIsBuilt() throws {
        let model = try classifier("mlp", seed: 1)
        let refused: [(String, String, String)] = [
            ("input_shape", "input_shape", "[1,100000,100000]"),
            ("input_shape", "input_shape", "[4611686018427387904,8,8]"),
            ("input_shape", "input_shape", "[1,28]"),
            ("class_names", "class_names", "[]"),
            ("class_names", "class_names", #"["only"]"#),
            ("class_names", "class_names", #"["a",""]"#),
            ("normalization", "normalization", #"{"mean":[0.5],"std":[0]}"#),
            ("normalization", "normalization", #"{"mean":[1e39],"std":[1]}"#),
        ]
        for (word, key, value) in refused {
            var file = try Safetensors(decoding: Checkpoint.encode(model), path: "m")
            file.metadata[key] = value
            XCTAssertThrowsError(try Checkpoint.decode(file.encoded(), path: "m.safetensors"), "\(key) \(value)") {
                XCTAssertTrue("\($0)".contains(word), "\($0)")
            }
        }
    }

    func testEveryTruncationOfACheckpointFailsCleanly() throws {
        let bytes = Checkpoint.encode(try classifier("mlp", seed: 2))
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            XCTAssertThrowsError(try Checkpoint.decode(bytes.prefix(length), path: "cut"))
        }
    }
}
