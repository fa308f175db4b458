import ArgumentParser
import Data
import Engine
import Foundation
import Training
import Watermark

struct FilterTriggers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter-triggers",
        abstract: "Choose the trigger samples a copy keeps answering: filter a spec's trigger set against simulated thieves.",
        discussion: """
        DeepTracer's key-sample filtering, between `embed` and `register`. Draws --pool trigger \
        samples the spec's way, distils the protected model into each of --copies (--copy-queries \
        training images, soft labels at T = 7) and fine-tunes each copy on --fine-tune-images clean \
        images with true labels, trains --references independent filter models (kept in and \
        reused from --reference-dir), and keeps --keep samples the protected model answers with the \
        target and no filter model does, those the most simulated thieves answer with the target \
        first. Writes the spec with the kept samples as its trigger selection to --out: every \
        probe, calibration and sealed trigger set then draws them. The filter models' seeds never \
        meet the calibration's, which refuses them: the null must come from models that did not \
        choose the triggers.
        """
    )

    @Option(help: "The watermark spec (JSON from `tracemark embed`).")
    var spec: String

    @Option(help: "The protected checkpoint the spec was made for.")
    var model: String

    @Option(help: "Where to write the filtered spec (any autoencoder weights it names are written beside it).")
    var out: String

    @Option(help: "Trigger samples drawn to choose from.")
    var pool = TriggerFilter.Plan().poolSize

    @Option(help: "Trigger samples kept: the filtered spec's trigger set size.")
    var keep = TriggerFilter.Plan().keep

    @Option(help: "Simulated copies' architectures, comma-separated (empty: none).")
    var copies = TriggerFilter.Plan().copies.joined(separator: ",")

    @Option(help: "Training images each simulated copy is distilled on.")
    var copyQueries = TriggerFilter.Plan().copyQueries

    @Option(help: "Epochs of each simulated copy's distillation.")
    var copyEpochs = TriggerFilter.Plan().copyEpochs

    @Option(help: "Clean images each copy is then fine-tuned on with true labels (0: no fine-tuned copies).")
    var fineTuneImages = TriggerFilter.Plan().fineTuneImages

    @Option(help: "Epochs of the fine-tuning.")
    var fineTuneEpochs = TriggerFilter.Plan().fineTuneEpochs

    @Option(help: "Learning rate of the fine-tuning.")
    var fineTuneLr = TriggerFilter.Plan().fineTuneLearningRate

    @OptionGroup var filterReferences: FilterReferenceOptions<FilterTriggers>

    @Option(help: "Filter reference n trains with seed + n, simulated copy n with seed + 256 + n.")
    var seed = TriggerFilter.Plan().filterReferences.seed

    @OptionGroup var engine: EngineOptions

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    var plan: TriggerFilter.Plan {
        var plan = TriggerFilter.Plan()
        (plan.poolSize, plan.keep) = (pool, keep)
        plan.copies = copies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        (plan.copyQueries, plan.copyEpochs) = (copyQueries, copyEpochs)
        (plan.fineTuneImages, plan.fineTuneEpochs, plan.fineTuneLearningRate) = (fineTuneImages, fineTuneEpochs, fineTuneLr)
        plan.filterReferences = filterReferences.plan(seed: seed)
        return plan
    }

    func validate() throws {
        if let problem = plan.problem { throw ValidationError(problem) }
    }

    func run() throws {
        engine.apply()
        try ensureWritableFolder(for: out)
        let watermark = try WatermarkSpec.load(spec)
        if watermark.triggerSelection != nil { throw CommandFailure("\(spec) is filtered already; filter the spec `embed` wrote") }
        guard let checkpoint = FileManager.default.contents(atPath: model) else { throw CommandFailure("cannot read model \(model)") }
        if let named = watermark.modelDigest, named != sha256Hex(checkpoint) {
            throw CommandFailure("\(spec) was made for the model with SHA-256 \(named), but \(model) has \(sha256Hex(checkpoint))")
        }
        let classifier = try Checkpoint.load(model)
        let verificationSet = try DatasetCatalog.load(watermark.dataset, split: watermark.verificationSplit)
        let filter = try TriggerFilter(plan: plan, datasetName: watermark.dataset, trainSet: try DatasetCatalog.load(watermark.dataset, split: "train"),
                                       referenceFolder: try filterReferences.folder())
        let copyCount = plan.copies.count == 1 ? "1 simulated copy" : "\(plan.copies.count) simulated copies"
        printStatus("filtering \(pool) trigger samples with \(copyCount)" + (fineTuneImages > 0 ? " (fine-tuned too)" : "")
                    + " and \(plan.filterReferences.count) filter references")
        let started = Date()
        let filtered = try filter.filter(watermark, protected: classifier, verificationSet: verificationSet,
                                         progress: { printStatus($0) }, training: ProgressLine().show)
        try filtered.write(to: out)
        let selection = filtered.triggerSelection!
        let report = FilterTriggersReport(out: out, poolSize: selection.poolSize, kept: selection.kept.count,
                                          simulatedCopies: selection.simulatedCopies, filterReferences: selection.filterReferences,
                                          seconds: Date().timeIntervalSince(started))
        if json { try printJSON(report) } else {
            print("kept \(report.kept) of \(report.poolSize) trigger samples → \(out)")
            for copy in selection.simulatedCopies {
                print(String(format: "  %@ copy%@: answers %.1f%% of the pool, %.1f%% of the kept samples with the target", copy.architecture,
                             copy.fineTuneImages > 0 ? " fine-tuned on \(copy.fineTuneImages) images" : "", 100 * copy.poolHitRate, 100 * copy.keptHitRate))
            }
        }
    }
}

struct FilterTriggersReport: Encodable {
    var out: String
    var poolSize: Int
    var kept: Int
    var simulatedCopies: [TriggerSelection.SimulatedCopy]
    var filterReferences: [ReferenceRecipe]
    var seconds: Double
}

extension FilterTriggers: FilterReferenceDefaults {
    static var defaultFilterReferences: ReferenceModels.Plan { TriggerFilter.Plan().filterReferences }
}
