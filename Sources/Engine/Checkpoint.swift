import Foundation

/// What a checkpoint says about its model besides the weights: enough to rebuild the network and
/// to feed it raw pixels in [0, 1].
public struct ModelCard: Codable, Equatable, Sendable {
    public let architecture: String
    /// One input item, (C, H, W).
    public let inputShape: [Int]
    public let classNames: [String]
    /// Per-channel normalisation applied to raw pixels: (x − mean) / std.
    public let mean: [Float]
    public let std: [Float]

    /// Items a network is built for: up to four channels of 8…128 pixels a side, four times the
    /// side of the largest catalog item (CIFAR-10's 32). The first layers' sizes follow from the
    /// item, so a card read from a file is bounded before any layer is allocated for it.
    public static let largestChannels = 4, sides = 8...128
    /// Up to 1,000 classes (ImageNet's count), each named in 1–100 characters.
    public static let classCounts = 2...1000, largestClassName = 100

    public init(architecture: String, inputShape: [Int], classNames: [String], mean: [Float], std: [Float]) throws {
        guard ModelZoo.architectures.contains(architecture) else { throw EngineError.unknownArchitecture(architecture) }
        if let problem = Self.itemShapeProblem(inputShape) ?? Self.classNamesProblem(classNames) {
            throw EngineError.invalidModelCard(problem)
        }
        guard mean.count == inputShape[0], std.count == inputShape[0],
              mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw EngineError.invalidModelCard("normalization needs a finite mean and a finite, positive std for each of the \(inputShape[0]) channels")
        }
        self.architecture = architecture
        self.inputShape = inputShape
        self.classNames = classNames
        self.mean = mean
        self.std = std
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let architecture = try container.decode(String.self, forKey: .architecture)
        let inputShape = try container.decode([Int].self, forKey: .inputShape)
        let classNames = try container.decode([String].self, forKey: .classNames)
        let mean = try container.decode([Float].self, forKey: .mean), std = try container.decode([Float].self, forKey: .std)
        self = try decoder.validated { try ModelCard(architecture: architecture, inputShape: inputShape, classNames: classNames, mean: mean, std: std) }
    }

    /// What is wrong with `shape` as the item of a network, in words; nil when it is sound.
    public static func itemShapeProblem(_ shape: [Int]) -> String? {
        guard shape.count == 3, (1...largestChannels).contains(shape[0]), sides.contains(shape[1]), sides.contains(shape[2]) else {
            return "input_shape \(shape) is not (C, H, W) with 1–\(largestChannels) channels and sides of \(sides.lowerBound)–\(sides.upperBound) pixels"
        }
        return nil
    }

    /// What is wrong with `names` as the classes of a task, in words; nil when they are sound.
    /// Names end up in reports, HTML and terminals, so control characters (a NUL that cuts a
    /// name short in C, an escape sequence in a terminal) are refused.
    public static func classNamesProblem(_ names: [String]) -> String? {
        guard classCounts.contains(names.count) else {
            return "class_names must name \(classCounts.lowerBound)–\(classCounts.upperBound) classes, got \(names.count)"
        }
        if let bad = names.firstIndex(where: { name in
            !(1...largestClassName).contains(name.count) || name.unicodeScalars.contains(where: \.isControlCharacter)
        }) {
            return "class_names[\(bad)] must be 1–\(largestClassName) characters without control characters"
        }
        return nil
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
        // The card is checked before the network is built: its shape sizes every layer.
        let card: ModelCard
        do { card = try ModelCard(architecture: architecture, inputShape: inputShape, classNames: classNames, mean: mean, std: std) } catch {
            throw fail("\(error)")
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
