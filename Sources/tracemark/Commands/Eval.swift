import ArgumentParser
import Data
import Dispatch
import Engine
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a checkpoint's accuracy on a data set split, overall and per class.",
        discussion: """
        The per-class figures say where an accuracy loss sits (an embedding's source classes drifting \
        to its target shows there first); --json adds the confusion matrix (rows: true class, columns: \
        the model's answer).
        """
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
        let confusion = Evaluation.confusion(of: classifier, on: dataset)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let digest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: model)))
        let report = EvalReport(model: model, modelSha256: digest, architecture: classifier.card.architecture, data: data,
                                split: split, images: dataset.count, confusion: confusion, classNames: classifier.card.classNames,
                                imagesPerSecond: Double(dataset.count) / seconds)
        if json {
            try printJSON(report)
        } else {
            print(String(format: "%@ on %@/%@: accuracy %.2f%% over %d images (%.0f images/s)",
                         classifier.card.architecture, data, split, 100 * report.accuracy, dataset.count, report.imagesPerSecond))
            for entry in report.perClass {
                // Padded here: Foundation on Linux ignores a width on %@.
                let name = entry.name.padding(toLength: max(24, entry.name.count), withPad: " ", startingAt: 0)
                print(String(format: "  %3d ", entry.label) + name + String(format: " %6.2f%% of %d", 100 * entry.accuracy, entry.images))
            }
        }
    }
}

struct EvalReport: Encodable {
    struct ClassAccuracy: Encodable {
        var label: Int
        var name: String
        var images: Int
        var accuracy: Double
    }

    var model: String
    var modelSha256: String
    var architecture: String
    var data: String
    var split: String
    var images: Int
    var accuracy: Double
    var perClass: [ClassAccuracy]
    /// Rows: true class; columns: the model's answer.
    var confusion: [[Int]]
    var imagesPerSecond: Double

    init(model: String, modelSha256: String, architecture: String, data: String, split: String, images: Int,
         confusion: [[Int]], classNames: [String], imagesPerSecond: Double) {
        (self.model, self.modelSha256, self.architecture, self.data, self.split) = (model, modelSha256, architecture, data, split)
        self.images = images
        self.confusion = confusion
        self.imagesPerSecond = imagesPerSecond
        let correct = confusion.indices.reduce(0) { $0 + confusion[$1][$1] }
        accuracy = images > 0 ? Double(correct) / Double(images) : 0
        perClass = confusion.indices.compactMap { label in
            let count = confusion[label].reduce(0, +)
            return count == 0 ? nil : ClassAccuracy(label: label, name: classNames[label], images: count,
                                                     accuracy: Double(confusion[label][label]) / Double(count))
        }
    }
}
