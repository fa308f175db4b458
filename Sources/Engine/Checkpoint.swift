import Foundation

/// What a checkpoint says about its model besides the weights: enough to rebuild the network and
/// to feed it raw pixels in [0, 1].
public struct ModelCard: Codable, Equatable, Sendable {
    public var architecture: String
    /// One input item, (C, H, W).
    public var inputShape: [Int]
    public var classNames: [String]
    /// Per-channel normalisation applied to raw pixels: (x − mean) / std.
    public var mean: [Float]
    public var std: [Float]

    public init(architecture: String, inputShape: [Int], classNames: [String], mean: [Float], std: [Float]) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.classNames = classNames
        self.mean = mean
        self.std = std
    }
}

/// Networks saved as `model.safetensors`: tensors by their PyTorch-style names
/// (`layers.0.weight`, `layers.1.running_mean`) and the model card in `__metadata__`.
public enum Checkpoint {
    public static let format = "tracemark.checkpoint/v1"

    public static func encode(_ classifier: Classifier) -> Data {
        let card = classifier.card
        let metadata: [String: String] = [
            "format": format,
            "architecture": card.architecture,
            "input_shape": jsonString(card.inputShape),
            "class_names": jsonString(card.classNames),
            "normalization": jsonString(["mean": card.mean, "std": card.std]),
        ]
        let entries = classifier.network.namedParameters.map {
            Safetensors.Entry(name: $0.name, shape: $0.parameter.shape, values: $0.parameter.values)
        }
        return Safetensors(entries: entries, metadata: metadata).encoded()
    }

    /// Writes the checkpoint atomically: a crash leaves either the old file or the new one.
    public static func save(_ classifier: Classifier, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encode(classifier).write(to: url, options: .atomic)
        } catch {
            throw EngineError.checkpoint(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    public static func load(_ path: String) throws -> Classifier {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EngineError.checkpoint(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> Classifier {
        func fail(_ reason: String) -> EngineError { .checkpoint(path: path, reason: reason) }
        let file = try Safetensors(decoding: data, path: path)
        let metadata = file.metadata
        guard metadata["format"] == format else {
            throw fail("metadata format is \(metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'")
        }
        guard let architecture = metadata["architecture"],
              let inputShape = decodeJSON([Int].self, metadata["input_shape"]),
              let classNames = decodeJSON([String].self, metadata["class_names"]),
              let normalization = decodeJSON([String: [Float]].self, metadata["normalization"]),
              let mean = normalization["mean"], let std = normalization["std"] else {
            throw fail("metadata lacks architecture, input_shape, class_names or normalization")
        }
        guard mean.count == inputShape.first, std.count == inputShape.first, std.allSatisfy({ $0 > 0 }) else {
            throw fail("normalization does not match \(inputShape.first ?? 0) channels")
        }
        let network = try ModelZoo.make(architecture, inputShape: inputShape, classes: classNames.count, seed: 0)
        for (name, parameter) in network.namedParameters {
            guard let entry = file[name] else { throw fail("tensor '\(name)' is missing") }
            guard entry.shape == parameter.shape else {
                throw fail("tensor '\(name)' has shape \(entry.shape), \(architecture) needs \(parameter.shape)")
            }
            entry.values.withUnsafeBufferPointer { parameter.load($0) }
        }
        let expected = Set(network.namedParameters.map(\.name))
        if let stray = file.entries.first(where: { !expected.contains($0.name) }) {
            throw fail("tensor '\(stray.name)' does not belong to \(architecture)")
        }
        let card = ModelCard(architecture: architecture, inputShape: inputShape, classNames: classNames, mean: mean, std: std)
        return Classifier(network: network, card: card)
    }

    private static func jsonString<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    private static func decodeJSON<T: Decodable>(_ type: T.Type, _ string: String?) -> T? {
        guard let string else { return nil }
        return try? JSONDecoder().decode(type, from: Data(string.utf8))
    }
}
