import ArgumentParser
import Watermark

/// The watermark's combining way as typed on the command line:
/// `crop-paste:REGION[:FRACTION[:ROTATION]]`, `pixel-merge:RATIO`,
/// `stripes:vertical|horizontal:PATTERN` (a/b letters, one per stripe) or
/// `autoencoder-blend[:RATIO]`.
enum CombinerOption {
    case ready(Combiner)
    /// The autoencoder must be trained on the embedding data first.
    case autoencoderBlend(ratio: Double)

    static let help = "Watermark combining way: crop-paste:REGION[:FRACTION[:ROTATION]] (REGION top, bottom, left, right, top-left, …), pixel-merge:RATIO, stripes:vertical|horizontal:PATTERN (e.g. abba), autoencoder-blend[:RATIO] (trains an autoencoder first). Default: a jittered crop-paste half drawn from the seed."

    init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number(_ index: Int, default value: Double? = nil, in range: ClosedRange<Double>, _ what: String) throws -> Double {
            guard index < parts.count else {
                guard let value else { throw ValidationError("--combiner \(parts[0]) needs a \(what)") }
                return value
            }
            guard let parsed = Double(parts[index]), range.contains(parsed), parsed != range.lowerBound, parsed != range.upperBound else {
                throw ValidationError("--combiner: \(what) must be a number strictly between \(range.lowerBound) and \(range.upperBound), got '\(parts[index])'")
            }
            return parsed
        }
        func arity(_ most: Int) throws {
            if parts.count > most { throw ValidationError("--combiner \(parts[0]) takes at most \(most - 1) parameters, got '\(text)'") }
        }
        switch parts[0] {
        case "crop-paste":
            try arity(4)
            guard parts.count > 1, let region = CropPaste.Region(rawValue: parts[1]) else {
                throw ValidationError("--combiner crop-paste needs a region: \(CropPaste.Region.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let fraction = try number(2, default: 0.5, in: 0...1, "fraction")
            let rotation = parts.count > 3 ? Int(parts[3]) : 0
            guard let rotation, [0, 90, 180, 270].contains(rotation) else {
                throw ValidationError("--combiner crop-paste rotation must be 0, 90, 180 or 270")
            }
            self = .ready(.cropPaste(try CropPaste(region: region, fraction: fraction, jitter: 3, rotation: rotation, swapsSources: true)))
        case "pixel-merge":
            try arity(2)
            self = .ready(.pixelMerge(try PixelMerge(ratio: try number(1, in: 0...1, "ratio"))))
        case "stripes":
            try arity(3)
            guard parts.count == 3, let orientation = Stripes.Orientation(rawValue: parts[1]) else {
                throw ValidationError("--combiner stripes needs vertical|horizontal and a pattern, e.g. stripes:vertical:abba")
            }
            let pattern = parts[2].map { $0 == "b" }
            guard parts[2].count >= 2, parts[2].allSatisfy({ $0 == "a" || $0 == "b" }), pattern.contains(true), pattern.contains(false) else {
                throw ValidationError("--combiner stripes pattern is two or more a/b letters using both, e.g. abba")
            }
            self = .ready(.stripes(try Stripes(orientation: orientation, pattern: pattern)))
        case "autoencoder-blend":
            try arity(2)
            self = .autoencoderBlend(ratio: try number(1, default: 0.5, in: 0...1, "ratio"))
        default:
            throw ValidationError("--combiner: unknown kind '\(parts[0])' (crop-paste, pixel-merge, stripes, autoencoder-blend)")
        }
    }
}
