import ArgumentParser
import Data
import Dispatch
import Engine
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a checkpoint's accuracy on a data set split."
    )

    @Option(help: "The checkpoint (.safetensors) to evaluate.")
    var model: String

    @Option(help: "Data set: \(DatasetCatalog.names.joined(separator: ", ")).")
    var data = "fashion-mnist"

    @Option(help: "Split to evaluate on (fashion-mnist: train, test).")
    var split = "test"

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func run() throws {
        engine.apply()
        let classifier = try Checkpoint.load(model)
        let dataset = try DatasetCatalog.load(data, split: split)
        guard dataset.itemShape == classifier.card.inputShape else {
            throw CommandFailure("\(model) takes \(classifier.card.inputShape) items but \(data) has \(dataset.itemShape)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let accuracy = Evaluation.accuracy(of: classifier, on: dataset)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let digest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: model)))
        let report = EvalReport(model: model, modelSha256: digest, architecture: classifier.card.architecture, data: data,
                                split: split, images: dataset.count, accuracy: accuracy,
                                imagesPerSecond: Double(dataset.count) / seconds)
        if json {
            try printJSON(report)
        } else {
            print(String(format: "%@ on %@/%@: accuracy %.2f%% over %d images (%.0f images/s)",
                         classifier.card.architecture, data, split, 100 * accuracy, dataset.count, report.imagesPerSecond))
        }
    }
}

struct EvalReport: Encodable {
    var model: String
    var modelSha256: String
    var architecture: String
    var data: String
    var split: String
    var images: Int
    var accuracy: Double
    var imagesPerSecond: Double
}
