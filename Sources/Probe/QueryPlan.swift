import Data
import Engine
import Foundation
import Watermark

public enum QueryKind: String, Codable, Sendable, CaseIterable {
    /// A trigger sample of the spec: the watermark answers with the target.
    case trigger
    /// A clean test image: how well the suspect does the main task.
    case control
    /// A false watermark (another source pair, or the right pair combined another way): how often
    /// the suspect says the target to look-alikes — the per-suspect null.
    case decoy
    /// An input of the protected model's fingerprint: a copy answers what the protected model does.
    case fingerprint
    /// A fingerprint decoy: an input of the same kind under another input's label — the
    /// fingerprint channel's per-suspect null.
    case fingerprintDecoy = "fingerprint-decoy"

    /// Whether a hit is the watermark's target label (triggers and their decoys).
    public var expectsTarget: Bool { self == .trigger || self == .decoy }
}

/// The fingerprint channel's queries as a plan takes them: the protected model's fingerprint
/// inputs under its answers, and the decoys under their labels (`Fingerprint` in Forensics).
public struct FingerprintQueries: Sendable {
    public var inputs: [Float]
    public var inputLabels: [Int]
    public var decoys: [Float]
    public var decoyLabels: [Int]
    /// SHA-256 of the fingerprint file, which the transcript names.
    public var sha256: String

    public init(inputs: [Float], inputLabels: [Int], decoys: [Float], decoyLabels: [Int], sha256: String) {
        self.inputs = inputs
        self.inputLabels = inputLabels
        self.decoys = decoys
        self.decoyLabels = decoyLabels
        self.sha256 = sha256
    }
}

public struct PlannedQuery: Sendable {
    public var id: Int
    public var kind: QueryKind
    public var image: [Float]
    /// The target label for triggers and decoys, the true label for controls.
    public var expectedLabel: Int
    public var inputDigest: String
}

/// Every query of one probe, shuffled together with a seed so the suspect cannot tell triggers
/// from ordinary traffic. Deterministic in (spec, data set, counts, seed), so a resumed probe
/// rebuilds the same plan and its digest.
public struct QueryPlan: Sendable {
    public struct Counts: Codable, Equatable, Sendable {
        public var triggers: Int
        public var controls: Int
        public var decoys: Int
        /// Fingerprint inputs and fingerprint decoys; 0 without a fingerprint.
        public var fingerprints: Int
        public var fingerprintDecoys: Int

        public init(triggers: Int, controls: Int, decoys: Int, fingerprints: Int = 0, fingerprintDecoys: Int = 0) {
            self.triggers = triggers
            self.controls = controls
            self.decoys = decoys
            self.fingerprints = fingerprints
            self.fingerprintDecoys = fingerprintDecoys
        }

        enum CodingKeys: String, CodingKey { case triggers, controls, decoys, fingerprints, fingerprintDecoys }

        /// Transcripts from before the fingerprint channel plan none of its queries.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(triggers: try c.decode(Int.self, forKey: .triggers), controls: try c.decode(Int.self, forKey: .controls),
                      decoys: try c.decode(Int.self, forKey: .decoys),
                      fingerprints: try c.decodeIfPresent(Int.self, forKey: .fingerprints) ?? 0,
                      fingerprintDecoys: try c.decodeIfPresent(Int.self, forKey: .fingerprintDecoys) ?? 0)
        }

        /// A header without a fingerprint reads as it always did.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(triggers, forKey: .triggers)
            try c.encode(controls, forKey: .controls)
            try c.encode(decoys, forKey: .decoys)
            if fingerprints != 0 || fingerprintDecoys != 0 {
                try c.encode(fingerprints, forKey: .fingerprints)
                try c.encode(fingerprintDecoys, forKey: .fingerprintDecoys)
            }
        }

        public var all: [Int] { [triggers, controls, decoys, fingerprints, fingerprintDecoys] }
        public var total: Int { all.reduce(0, +) }

        public subscript(kind: QueryKind) -> Int {
            switch kind {
            case .trigger: triggers
            case .control: controls
            case .decoy: decoys
            case .fingerprint: fingerprints
            case .fingerprintDecoy: fingerprintDecoys
            }
        }

        /// Why `inputs` fingerprint inputs and `decoys` fingerprint decoys (nil: all of them) cannot
        /// be planned from a fingerprint of `available` ones (nil: no fingerprint), or nil.
        public static func fingerprintProblem(inputs: Int?, decoys: Int?, available: (inputs: Int, decoys: Int)?) -> String? {
            for (asked, has, name) in [(inputs, available?.inputs ?? 0, "fingerprint inputs"), (decoys, available?.decoys ?? 0, "fingerprint decoys")]
            where (asked ?? 0) > has {
                return "\(asked!) \(name) asked for; " + (available == nil ? "the registration has no fingerprint" : "its fingerprint has \(has)")
            }
            return nil
        }

        /// These counts with a fingerprint's queries: all `available` inputs and decoys unless
        /// fewer are asked for (check `fingerprintProblem` first).
        public func withFingerprint(inputs: Int?, decoys: Int?, available: (inputs: Int, decoys: Int)?) -> Counts {
            var counts = self
            (counts.fingerprints, counts.fingerprintDecoys) = (inputs ?? available?.inputs ?? 0, decoys ?? available?.decoys ?? 0)
            return counts
        }

        /// Scaled down in proportion (keeping at least one trigger) to fit `budget` queries.
        public func fitting(budget: Int?) -> Counts {
            guard let budget, budget < total else { return self }
            let share = Double(budget) / Double(total)
            let triggers = max(1, Int(Double(self.triggers) * share))
            var left = budget - triggers
            let scaled = [controls, fingerprints, fingerprintDecoys].map { count in
                let n = min(Int(Double(count) * share), left)
                left -= n
                return n
            }
            return Counts(triggers: triggers, controls: scaled[0], decoys: max(0, left), fingerprints: scaled[1], fingerprintDecoys: scaled[2])
        }
    }

    public var queries: [PlannedQuery]
    public var counts: Counts
    public var targetLabel: Int
    public var itemShape: [Int]
    public var classNames: [String]
    public var seed: UInt64

    /// `decoyPairs` (from the calibration) are the other source pairs decoys may combine; nil
    /// for every other pair and the other combining ways. Only MEA-Defender specs have pairs.
    /// Fingerprint queries are the first `counts.fingerprints` inputs and `counts.fingerprintDecoys`
    /// decoys of `fingerprint` (its order is already a seeded draw).
    public static func make(spec: WatermarkSpec, testSet: Dataset, counts: Counts, seed: UInt64, decoyPairs: [[Int]]? = nil,
                            fingerprint: FingerprintQueries? = nil) throws -> QueryPlan {
        guard testSet.classNames.count == spec.classNames.count else {
            throw WatermarkError.mismatch("\(testSet.name) has \(testSet.classNames.count) classes, the spec \(spec.classNames.count)")
        }
        let size = testSet.itemSize
        var pending: [(QueryKind, ArraySlice<Float>, Int)] = []
        let triggers = try WatermarkEvaluation.triggerSamples(for: spec, from: testSet, count: counts.triggers)
        for n in 0..<triggers.count { pending.append((.trigger, triggers.images[n * size..<(n + 1) * size], spec.targetLabel)) }

        var rng = SeededGenerator(seed: seed)
        for _ in 0..<counts.controls {
            let index = Int(rng.next() % UInt64(testSet.count))
            pending.append((.control, testSet.images[index * size..<(index + 1) * size], Int(testSet.labels[index])))
        }
        for decoys in try decoySamples(spec: spec, testSet: testSet, count: counts.decoys, pairs: decoyPairs, rng: &rng) {
            for n in 0..<decoys.count { pending.append((.decoy, decoys.images[n * size..<(n + 1) * size], spec.targetLabel)) }
        }
        if counts.fingerprints + counts.fingerprintDecoys > 0 {
            guard let fingerprint else { throw WatermarkError.mismatch("the plan asks for fingerprint queries, and there is no fingerprint") }
            for (kind, images, labels) in [(QueryKind.fingerprint, fingerprint.inputs, fingerprint.inputLabels),
                                           (.fingerprintDecoy, fingerprint.decoys, fingerprint.decoyLabels)] {
                guard counts[kind] <= labels.count, images.count == labels.count * size else {
                    throw WatermarkError.mismatch("the plan asks for \(counts[kind]) \(kind.rawValue) queries of \(size) values; the fingerprint has \(labels.count) of \(labels.isEmpty ? size : images.count / labels.count)")
                }
                for n in 0..<counts[kind] { pending.append((kind, images[n * size..<(n + 1) * size], labels[n])) }
            }
        }
        pending.shuffle(using: &rng)
        let queries = pending.enumerated().map { id, query in
            let image = Array(query.1)
            return PlannedQuery(id: id, kind: query.0, image: image, expectedLabel: query.2,
                                inputDigest: sha256Hex(image.withUnsafeBytes { Data($0) }))
        }
        return QueryPlan(queries: queries, counts: counts, targetLabel: spec.targetLabel, itemShape: testSet.itemShape,
                         classNames: spec.classNames, seed: seed)
    }

    /// With `chosenPairs`, every decoy combines one of those source pairs the watermark's way.
    /// Without, half the decoys combine other source pairs (never including the target) the
    /// watermark's way and half combine the right pair other ways (the spec's evasion
    /// combiners). A content-trigger spec gets other random patches instead.
    private static func decoySamples(spec: WatermarkSpec, testSet: Dataset, count: Int, pairs chosenPairs: [[Int]]?,
                                     rng: inout SeededGenerator) throws -> [TriggerSamples] {
        guard count > 0 else { return [] }
        switch spec.method {
        case .contentTrigger:
            if chosenPairs != nil { throw WatermarkError.mismatch("a content-trigger spec has no source pairs to choose decoys from") }
            var decoy = spec
            decoy.contentTrigger = try .random(shape: testSet.itemShape, rng: &rng)
            return [try TriggerFactory(spec: decoy, dataset: testSet).watermarkSamples(count: count, seed: rng.next())]
        case .meaDefender:
            let factory = try TriggerFactory(spec: spec, dataset: testSet)
            let otherWays = spec.evasion.isEmpty || chosenPairs != nil ? 0 : count / 2
            var samples: [TriggerSamples] = []
            if otherWays > 0 { samples.append(factory.evasionSamples(count: otherWays, seed: rng.next())) }
            let otherPairs = factory.otherPairs.map { [$0.0, $0.1] }
            if let chosenPairs, let stray = chosenPairs.first(where: { !otherPairs.contains($0) }) ?? (chosenPairs.isEmpty ? [] : nil) {
                throw WatermarkError.mismatch(stray.isEmpty ? "no decoy pairs to choose from" : "decoy pair \(stray) is not another source pair of this spec")
            }
            let pairs = chosenPairs ?? otherPairs
            let pairDecoys = count - otherWays
            for n in 0..<min(pairDecoys, pairs.count) {
                var decoy = spec
                decoy.sourceLabels = pairs[Int(rng.next() % UInt64(pairs.count))]
                let share = pairDecoys / min(pairDecoys, pairs.count) + (n < pairDecoys % min(pairDecoys, pairs.count) ? 1 : 0)
                samples.append(try TriggerFactory(spec: decoy, dataset: testSet).watermarkSamples(count: share, seed: rng.next()))
            }
            return samples
        }
    }

    /// SHA-256 over every query's id, kind and input digest: what a transcript is bound to.
    public var digest: String {
        sha256Hex(Data(queries.map { "\($0.id) \($0.kind.rawValue) \($0.inputDigest)\n" }.joined().utf8))
    }
}
