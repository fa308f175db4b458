import Data
import Engine
import Foundation
import Probe
import Training
import Watermark

/// A fingerprint of a protected model, the second evidence channel: inputs on which the model
/// answers what neither independent models nor its twin (a clean model trained with the same
/// recipe and other seeds) do, labelled with its answers; and decoys, chosen the same way with the
/// twin and the protected model swapped, labelled with the twin's answers. A copy gives the
/// protected model's odd answers far more often than the twin's. A suspect independent of both
/// is, by symmetry, as close to the twin as to the protected model: it agrees with the decoys as
/// often as with the fingerprint, which is what its decoy test checks. (Decoys labelled with the
/// fingerprint's labels shuffled, or with the filter models' consensus, were not such a null: an
/// independent fmnist-cnn gave the protected fmnist-cnn's odd answers on 64 % of the inputs and
/// the shuffled labels on 51 %, the consensus on 8 %.) Needs nothing at training time, and only
/// top-1 answers. One safetensors file: the images and labels as tensors, the provenance as JSON
/// in its metadata.
public struct Fingerprint: Equatable, Sendable {
    public static let format = "tracemark.fingerprint/v2"
    public static let fileName = "fingerprint.safetensors"
    /// Fingerprint inputs, decoys and candidates a fingerprint may have.
    public static let counts = 1...100_000

    /// How the candidates were made (`FingerprintCandidates`).
    public struct Candidates: Codable, Equatable, Sendable {
        /// A `FingerprintCandidates.Kind`.
        public let kind: String
        public let count: Int
        public let seed: UInt64
        /// Adversarial candidates' L∞ radius and PGD steps; nil for other kinds.
        public let epsilon: Float?
        public let steps: Int?

        public init(kind: String, count: Int, seed: UInt64, epsilon: Float?, steps: Int?) throws {
            guard let known = FingerprintCandidates.Kind(rawValue: kind) else {
                throw ForensicsError.invalid("candidate kind '\(kind.prefix(40))' is not one of \(FingerprintCandidates.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard Fingerprint.counts.contains(count) else {
                throw ForensicsError.invalid("candidates must be \(Fingerprint.counts.lowerBound)–\(Fingerprint.counts.upperBound), got \(count)")
            }
            let adversarial = known == .adversarial
            guard adversarial == (epsilon != nil), adversarial == (steps != nil),
                  epsilon.map({ $0.isFinite && $0 > 0 && $0 <= 1 }) ?? true, steps.map({ (1...1000).contains($0) }) ?? true else {
                throw ForensicsError.invalid("adversarial candidates, and only they, have an epsilon in (0, 1] and 1–1000 steps")
            }
            self.kind = kind
            self.count = count
            self.seed = seed
            self.epsilon = epsilon
            self.steps = steps
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let kind = try c.decode(String.self, forKey: .kind), count = try c.decode(Int.self, forKey: .count)
            let seed = try c.decode(UInt64.self, forKey: .seed), epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon)
            let steps = try c.decodeIfPresent(Int.self, forKey: .steps)
            self = try decoder.validated { try Candidates(kind: kind, count: count, seed: seed, epsilon: epsilon, steps: steps) }
        }
    }

    /// Where the fingerprint came from.
    public struct Provenance: Codable, Equatable, Sendable {
        /// The data set and split the candidates were made from.
        public let dataset: String
        public let split: String
        public let classNames: [String]
        /// SHA-256 of the protected model's checkpoint file, and of its twin's.
        public let protectedModelSha256: String
        public let twinModelSha256: String
        public let candidates: Candidates
        /// The independent models that chose the fingerprint: none of them gives the protected model's
        /// answer on any fingerprint input. The null must come from other references.
        public let filterReferences: [ReferenceRecipe]

        public init(dataset: String, split: String, classNames: [String], protectedModelSha256: String, twinModelSha256: String,
                    candidates: Candidates, filterReferences: [ReferenceRecipe]) throws {
            for (name, value) in [("dataset", dataset), ("split", split)] where !isPlainName(value, limit: 64) {
                throw ForensicsError.invalid("\(name) must be 1–64 characters without control characters")
            }
            guard (2...1000).contains(classNames.count), classNames.allSatisfy({ isPlainName($0, limit: 200) }) else {
                throw ForensicsError.invalid("class_names must be 2–1000 names of 1–200 characters without control characters")
            }
            guard isSHA256Hex(protectedModelSha256), isSHA256Hex(twinModelSha256), protectedModelSha256 != twinModelSha256 else {
                throw ForensicsError.invalid("protected_model_sha256 and twin_model_sha256 must be two different SHA-256s in lowercase hex")
            }
            guard (1...100).contains(filterReferences.count) else { throw ForensicsError.invalid("a fingerprint is chosen by 1–100 filter references") }
            self.dataset = dataset
            self.split = split
            self.classNames = classNames
            self.protectedModelSha256 = protectedModelSha256
            self.twinModelSha256 = twinModelSha256
            self.candidates = candidates
            self.filterReferences = filterReferences
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let dataset = try c.decode(String.self, forKey: .dataset), split = try c.decode(String.self, forKey: .split)
            let classNames = try c.decode([String].self, forKey: .classNames)
            let digest = try c.decode(String.self, forKey: .protectedModelSha256), twin = try c.decode(String.self, forKey: .twinModelSha256)
            let candidates = try c.decode(Candidates.self, forKey: .candidates)
            let filters = try c.decode([ReferenceRecipe].self, forKey: .filterReferences)
            self = try decoder.validated {
                try Provenance(dataset: dataset, split: split, classNames: classNames, protectedModelSha256: digest, twinModelSha256: twin,
                               candidates: candidates, filterReferences: filters)
            }
        }
    }

    /// Labelled inputs: raw pixels in [0, 1], one label per item.
    public struct Inputs: Equatable, Sendable {
        public let images: [Float]
        public let labels: [Int32]
        public var count: Int { labels.count }
    }

    public let provenance: Provenance
    /// The shape of one input (C, H, W).
    public let itemShape: [Int]
    /// The fingerprint: inputs labelled with the protected model's answers.
    public let inputs: Inputs
    /// The decoys: inputs of the same kind, labelled with the twin's own answers.
    public let decoys: Inputs

    public init(provenance: Provenance, itemShape: [Int], inputs: Inputs, decoys: Inputs) throws {
        guard (1...4).contains(itemShape.count), itemShape.allSatisfy({ (1...4096).contains($0) }),
              let size = elementCount(itemShape), size <= 1 << 20 else {
            throw ForensicsError.invalid("an input's shape must be 1–4 dimensions of 1–4096, at most 2^20 values, got \(itemShape.prefix(8))")
        }
        for (name, set, least) in [("fingerprint inputs", inputs, 1), ("decoys", decoys, 0)] {
            guard (least...Fingerprint.counts.upperBound).contains(set.count) else {
                throw ForensicsError.invalid("\(name): \(least)–\(Fingerprint.counts.upperBound) items, got \(set.count)")
            }
            guard let values = elementCount([set.count, size]), set.images.count == values else {
                throw ForensicsError.invalid("\(name): \(set.images.count) pixel values for \(set.count) items of \(size)")
            }
            guard set.images.allSatisfy({ (0...1).contains($0) }) else { throw ForensicsError.invalid("\(name): pixels must be finite values in [0, 1]") }
            guard set.labels.allSatisfy({ (0..<Int32(provenance.classNames.count)).contains($0) }) else {
                throw ForensicsError.invalid("\(name): labels must be classes 0–\(provenance.classNames.count - 1)")
            }
        }
        self.provenance = provenance
        self.itemShape = itemShape
        self.inputs = inputs
        self.decoys = decoys
    }

    public func encoded() throws -> Data {
        let labels = { (set: Inputs) in set.labels.map(Float.init) }
        return Safetensors(entries: [
            .init(name: "inputs", shape: [inputs.count] + itemShape, values: inputs.images),
            .init(name: "input_labels", shape: [inputs.count], values: labels(inputs)),
            .init(name: "decoys", shape: [decoys.count] + itemShape, values: decoys.images),
            .init(name: "decoy_labels", shape: [decoys.count], values: labels(decoys)),
        ], metadata: ["format": Fingerprint.format,
                      "provenance": String(decoding: try CanonicalJSON.encode(provenance), as: UTF8.self)]).encoded()
    }

    /// Checks everything a fingerprint file says before any of it is used.
    public init(decoding file: Data, path: String = Fingerprint.fileName) throws {
        let tensors = try Safetensors(decoding: file, path: path)
        guard tensors.metadata["format"] == Fingerprint.format else {
            throw ForensicsError.invalid("\(path) is not a fingerprint (format \(tensors.metadata["format"]?.prefix(80) ?? "missing"), expected \(Fingerprint.format))")
        }
        let provenance: Provenance
        do {
            provenance = try CanonicalJSON.decode(Provenance.self, from: Data((tensors.metadata["provenance"] ?? "").utf8))
        } catch {
            throw ForensicsError.invalid("\(path): invalid provenance: \(describeDecodingError(error))")
        }
        func set(_ images: String, _ labels: String) throws -> (Inputs, [Int]) {
            guard let pixels = tensors[images], let classes = tensors[labels], let count = pixels.shape.first,
                  classes.shape == [count] else {
                throw ForensicsError.invalid("\(path) needs tensors \(images) (N, C, H, W) and \(labels) (N)")
            }
            guard classes.values.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e6 }) else {
                throw ForensicsError.invalid("\(path): \(labels) must hold whole class numbers")
            }
            return (Inputs(images: pixels.values, labels: classes.values.map { Int32($0) }), Array(pixels.shape.dropFirst()))
        }
        let (inputs, itemShape) = try set("inputs", "input_labels")
        let (decoys, decoyShape) = try set("decoys", "decoy_labels")
        guard decoys.count == 0 || decoyShape == itemShape else {
            throw ForensicsError.invalid("\(path): decoys are \(decoyShape.prefix(8)), inputs \(itemShape.prefix(8))")
        }
        try self.init(provenance: provenance, itemShape: itemShape, inputs: inputs, decoys: decoys)
    }

    /// Why this fingerprint cannot go with `spec`'s watermark, or nothing: it must be of the same
    /// classes and items, and of the model the spec was embedded in when the spec names it.
    public func check(against spec: WatermarkSpec) throws {
        guard provenance.classNames == spec.classNames else {
            throw ForensicsError.invalid("the fingerprint's classes (\(provenance.classNames.count)) are not the spec's (\(spec.classNames.count))")
        }
        guard DatasetCatalog.itemShape(of: spec.dataset) == itemShape else {
            throw ForensicsError.invalid("the fingerprint's inputs are \(itemShape), the items of \(spec.dataset) are not")
        }
        if let model = spec.modelDigest, model != provenance.protectedModelSha256 {
            throw ForensicsError.invalid("the fingerprint was made from model \(provenance.protectedModelSha256.prefix(12))…, the spec's model is \(model.prefix(12))…")
        }
    }

    /// The inputs and decoys as a probe plan takes them; `sha256` is this fingerprint's file's.
    public func queries(sha256: String) -> FingerprintQueries {
        FingerprintQueries(inputs: inputs.images, inputLabels: inputs.labels.map(Int.init), decoys: decoys.images,
                           decoyLabels: decoys.labels.map(Int.init), sha256: sha256)
    }

    /// How many fingerprint inputs and how many decoys `model` answers with their label.
    public func agreement(of model: Classifier) throws -> (hits: Int, decoyHits: Int) {
        guard model.card.inputShape == itemShape, model.classCount == provenance.classNames.count else {
            throw ForensicsError.invalid("the model takes \(model.card.inputShape) into \(model.classCount) classes; the fingerprint is \(itemShape) into \(provenance.classNames.count)")
        }
        let hits = { (set: Inputs) in
            zip(set.images.withUnsafeBufferPointer { model.labels($0) }, set.labels).filter { $0 == $1 }.count
        }
        return (hits(inputs), decoys.count == 0 ? 0 : hits(decoys))
    }
}
