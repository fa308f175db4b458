import Engine

/// Owner choices for a new watermark; anything left nil is drawn at random from the seed.
public struct SecretChoices: Sendable {
    public var sourceLabels: [Int]?
    public var targetLabel: Int?
    public var watermark: Combiner?

    public init(sourceLabels: [Int]? = nil, targetLabel: Int? = nil, watermark: Combiner? = nil) {
        self.sourceLabels = sourceLabels
        self.targetLabel = targetLabel
        self.watermark = watermark
    }
}

extension WatermarkSpec {
    /// A new MEA-Defender spec: the given choices, the rest drawn from `seed`. The drawn combiner
    /// is a half crop-paste (a side at random, ±3 pixel cut, sources swapped at random — the
    /// authors' main combining way); evasion combiners are the other kinds and other geometries.
    public static func drawMEADefender(dataset: String, classNames: [String], choices: SecretChoices, seed: UInt64,
                                       triggerSetSize: Int = 2000) throws -> WatermarkSpec {
        if let problem = ModelCard.classNamesProblem(classNames) { throw WatermarkError.invalid(problem) }
        var rng = SeededGenerator(seed: seed ^ 0x5EC2E7)
        var classes = Array(0..<classNames.count)
        classes.shuffle(using: &rng)
        let sources = choices.sourceLabels ?? Array(classes.filter { $0 != choices.targetLabel }.prefix(2))
        guard let target = choices.targetLabel ?? classes.first(where: { !sources.contains($0) }) else {
            throw WatermarkError.invalid("mea-defender needs a class besides the two sources for the target")
        }
        let sides: [CropPaste.Region] = [.top, .bottom, .left, .right]
        let watermark = try choices.watermark
            ?? .cropPaste(CropPaste(region: sides[Int(rng.next() % 4)], fraction: 0.5, jitter: 3, swapsSources: true))
        return try WatermarkSpec(method: .meaDefender, dataset: dataset, classNames: classNames, sourceLabels: sources,
                                 targetLabel: target, watermark: watermark, evasion: evasionCombiners(against: watermark),
                                 contentTrigger: nil, seed: seed, triggerSetSize: triggerSetSize)
    }

    /// A content-trigger (baseline) spec: a random patch on the bottom-right corner.
    public static func drawContentTrigger(dataset: String, classNames: [String], itemShape: [Int], targetLabel: Int?,
                                          seed: UInt64, triggerSetSize: Int = 2000) throws -> WatermarkSpec {
        if let problem = ModelCard.classNamesProblem(classNames) { throw WatermarkError.invalid(problem) }
        var rng = SeededGenerator(seed: seed ^ 0xC0DE)
        let target = targetLabel ?? Int(rng.next() % UInt64(classNames.count))
        return try WatermarkSpec(method: .contentTrigger, dataset: dataset, classNames: classNames, sourceLabels: [],
                                 targetLabel: target, watermark: nil, evasion: [],
                                 contentTrigger: try .random(shape: itemShape, rng: &rng), seed: seed, triggerSetSize: triggerSetSize)
    }

    /// Combining ways that must *not* trigger: every other pixel-level kind, and other geometries
    /// or ratios of the watermark's own kind (an autoencoder blend is an evasion way only when the
    /// watermark is one, since it needs an autoencoder trained for the spec). A crop-paste side
    /// that equals the watermark once the sources swap (top over bottom is bottom over top) is
    /// left out.
    public static func evasionCombiners(against watermark: Combiner) -> [Combiner] {
        // Constant parameters, each inside its combiner's bounds.
        var candidates: [Combiner] = try! [
            .cropPaste(CropPaste(region: .left, fraction: 0.5, jitter: 3, swapsSources: true)),
            .cropPaste(CropPaste(region: .top, fraction: 0.5, jitter: 3, swapsSources: true)),
            .cropPaste(CropPaste(region: .topLeft, fraction: 0.5, jitter: 2, swapsSources: true)),
            .cropPaste(CropPaste(region: .bottomRight, fraction: 0.5, jitter: 2, swapsSources: true)),
            .pixelMerge(PixelMerge(ratio: 0.5)),
            .stripes(.alternating(.vertical, count: 4)),
            .stripes(.alternating(.horizontal, count: 4)),
        ]
        if case .cropPaste(let mark) = watermark {
            let axis: Set<CropPaste.Region> = [.top, .bottom].contains(mark.region) ? [.top, .bottom]
                : [.left, .right].contains(mark.region) ? [.left, .right] : [mark.region]
            candidates.removeAll { candidate in
                if case .cropPaste(let other) = candidate { return axis.contains(other.region) && other.fraction == mark.fraction }
                return false
            }
        }
        if case .autoencoderBlend(let mark) = watermark, let autoencoder = mark.autoencoder {
            // Other ratios of the same blend; ones within 0.2 of the secret ratio would be the
            // watermark itself to any model.
            for ratio in [0.2, 0.5, 0.8] where abs(ratio - mark.ratio) >= 0.2 {
                candidates.append(.autoencoderBlend(try! AutoencoderBlend(ratio: ratio, autoencoder: autoencoder)))
            }
        }
        candidates.removeAll { $0 == watermark }
        return candidates
    }
}
