import ArgumentParser
import Data
import Engine
import Foundation
import Watermark

struct WatermarkEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wm-eval",
        abstract: "Measure a model's accuracy, watermark success rate (WSR) and false-positive rate (WFPR).",
        discussion: """
        WSR is the share of fresh watermark samples, made from the spec's verification split (images \
        training never saw), that the model labels with the target. WFPR is the same share over \
        mixes made by the evasion combining ways. --noise adds Gaussian noise to the trigger samples \
        first (a suspect that perturbs its inputs).
        """
    )

    @Option(help: "The checkpoint (.safetensors) to test.")
    var model: String

    @Option(help: "The watermark spec (JSON).")
    var spec: String

    @Option(help: "Standard deviation of Gaussian noise added to trigger samples (pixels in [0, 1]).")
    var noise: Float = 0

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard noise >= 0, noise.isFinite else { throw ValidationError("--noise must be a non-negative number") }
    }

    func run() throws {
        engine.apply()
        let watermark = try WatermarkSpec.load(spec)
        let classifier = try Checkpoint.load(model)
        let testSet = try DatasetCatalog.load(watermark.dataset, split: watermark.verificationSplit)
        guard classifier.card.inputShape == testSet.itemShape, classifier.classCount == watermark.classNames.count else {
            throw CommandFailure("\(model) (\(classifier.card.inputShape), \(classifier.classCount) classes) does not fit the spec's \(watermark.dataset)")
        }
        var scores = try WatermarkEvaluation.scores(of: classifier, spec: watermark, testSet: testSet)
        if noise > 0 {
            let samples = try WatermarkEvaluation.verificationSamples(for: watermark, from: testSet)
            scores.wsr = WatermarkEvaluation.hitRate(of: classifier, on: Removal.noisy(samples.watermark, sigma: noise, seed: watermark.seed),
                                                     label: watermark.targetLabel)
        }
        let report = WatermarkEvalReport(model: model, spec: spec, method: watermark.method.rawValue, accuracy: scores.accuracy,
                                         wsr: scores.wsr, wfpr: scores.wfpr, triggerSamples: scores.triggerSamples, noise: noise)
        if json {
            try printJSON(report)
        } else {
            print(String(format: "accuracy %.2f%%  WSR %.2f%% of %d trigger samples  WFPR %@%@", 100 * scores.accuracy, 100 * scores.wsr,
                         scores.triggerSamples, scores.wfpr.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a",
                         noise > 0 ? String(format: "  (noise σ %.3f)", noise) : ""))
        }
    }
}

struct WatermarkEvalReport: Encodable {
    var model: String
    var spec: String
    var method: String
    var accuracy: Double
    var wsr: Double
    var wfpr: Double?
    var triggerSamples: Int
    var noise: Float
}
