import ArgumentParser
import Data
import Engine
import Foundation
import Training
import Watermark

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier that carries a watermark, and write its secret spec.",
        discussion: """
        mea-defender (default): MEA-Defender's symbiotic backdoor. Two source classes are combined \
        (a jittered half of one image pasted over another unless --combiner says otherwise) and \
        labelled as a third; evasion mixes made by other combining ways keep a source label. The \
        four losses (utility, verification, combination KL, evasion) are weighted by MGDA, \
        re-solved every --mgda-interval steps (each solve costs one extra backward pass per task). \
        content-trigger: the classic baseline, a fixed patch labelled as the target. \
        Unset secrets (--sources, --target) are drawn from --seed. Start from a trained model with \
        --init-model; otherwise the model is trained from scratch. After every epoch the test accuracy \
        and the WSR (on fresh test-split watermark samples) are measured; the most accurate epoch \
        that reaches --min-wsr and the accuracy floor (--min-accuracy, and with --init-model at most \
        --max-accuracy-cost points below the initial model) is the one written. When no epoch does, \
        nothing is written and embed exits non-zero with every epoch's figures. Keep the spec \
        secret: it is what proves ownership.
        """
    )

    @Option(help: "Data set: \(DatasetCatalog.names.joined(separator: ", ")).")
    var data = "fashion-mnist"

    @Option(help: "Architecture (ignored with --init-model): \(ModelZoo.architectures.joined(separator: ", ")).")
    var arch = "fmnist-cnn"

    @Option(help: "Start from this checkpoint instead of from scratch.")
    var initModel: String?

    @Option(help: "Epochs over the training set.")
    var epochs = 15

    @Option(help: "Where to write the watermarked checkpoint (.safetensors).")
    var out: String

    @Option(help: "Where to write the watermark spec (JSON; secret).")
    var specOut: String

    @Option(help: "Watermark method: mea-defender, content-trigger.")
    var method = "mea-defender"

    @Option(help: "Source labels s_i,s_j (default: drawn from the seed).")
    var sources: String?

    @Option(help: "Target label (default: drawn from the seed).")
    var target: Int?

    @Option(help: ArgumentHelp(CombinerOption.help))
    var combiner: String?

    @Option(help: "Epochs of autoencoder training for --combiner autoencoder-blend.")
    var autoencoderEpochs = 2

    @Option(help: "Watermark samples per step (beside --batch-size clean images).")
    var watermarkPerBatch = EmbeddingConfiguration().watermarkPerBatch

    @Option(help: "Evasion samples per step.")
    var evasionPerBatch = EmbeddingConfiguration().evasionPerBatch

    @Option(help: "Share of the evasion samples that combine other source pairs the secret way (0–1), so the watermark fires only for the secret pair.")
    var otherPairEvasion = EmbeddingConfiguration().otherPairEvasion

    @Option(help: "Fixed task weights utility,verification,combination,evasion (with --rehearsal: ,rehearsal) instead of MGDA.")
    var fixedWeights: String?

    @Flag(help: "Drop the combination (KL) loss.")
    var noCom = false

    @Flag(help: "Drop the evasion loss.")
    var noEva = false

    @Option(help: "Re-solve the MGDA weights every this many steps.")
    var mgdaInterval = 10

    @Option(help: "Scaling of task gradients before MGDA: l2, loss, none.")
    var mgdaNormalization = "l2"

    @Option(help: "Least weight MGDA may give the utility (main-task) loss, 0–1; 0 is plain MGDA.")
    var utilityFloor = 0.5

    @Option(help: "What MGDA balances: tasks (the paper's four), two-groups (cross-entropy vs KL, the released code).")
    var mgdaGroups = "tasks"

    @Option(help: "Share of the combination KL's gradient that also pulls the source images' outputs towards the watermark's, 0–1 (0: sources are constants, as in the released code).")
    var sourcePull = EmbeddingConfiguration().sourcePull

    @Option(help: "The source pull stops on an image once it gives the target this probability.")
    var sourcePullCap = EmbeddingConfiguration().sourcePullCap

    @Flag(help: "Train the stacked source images to their true labels too (in the utility loss), so the combination loss cannot drift them towards the target.")
    var anchorSources = false

    @Option(help: "λ of DeepTracer's coupling loss (in logit space), added to the verification task: watermark samples pulled into the target class's cluster, away from the others; 0 leaves it out.")
    var coupling = EmbeddingConfiguration().coupling

    @Option(help: "T2S's rehearsal: distil a student of this architecture (\(ModelZoo.architectures.joined(separator: ", "))) from the model at every step, and balance, as one more task, the student's watermark loss after its step (first order in the model's answers). Roughly doubles the cost of a step.")
    var rehearsal: String?

    @Option(help: "Temperature at which the rehearsal's student distils the model's answers.")
    var rehearsalTemperature: Float = 7

    @Option(help: "Fresh trigger samples per verification.")
    var triggerSetSize = 2000

    @Option(help: "Use only the first N training images.")
    var trainLimit: Int?

    @Option(help: "WSR an epoch must reach on fresh test-split watermark samples for its model to be kept (0–1).")
    var minWsr = 0.9

    @Option(help: "Test accuracy an epoch must reach for its model to be kept (0–1; default: none from scratch).")
    var minAccuracy: Double?

    @Option(help: "With --init-model: test accuracy an epoch may lose against the initial model, in points, and still be kept.")
    var maxAccuracyCost = 5.0

    @OptionGroup var augmentation: AugmentationOptions

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard WatermarkSpec.Method(rawValue: method) != nil else { throw ValidationError("--method must be mea-defender or content-trigger") }
        guard GradientNormalization(rawValue: mgdaNormalization) != nil else { throw ValidationError("--mgda-normalization must be l2, loss or none") }
        guard MGDAGroups(rawValue: mgdaGroups) != nil else { throw ValidationError("--mgda-groups must be tasks or two-groups") }
        guard sourcePull >= 0 && sourcePull <= 1 else { throw ValidationError("--source-pull must lie in [0, 1]") }
        guard sourcePullCap > 0 && sourcePullCap < 1 else { throw ValidationError("--source-pull-cap must lie in (0, 1)") }
        guard coupling >= 0 && coupling <= 100 else { throw ValidationError("--coupling must lie in [0, 100]") }
        if let rehearsal, !ModelZoo.architectures.contains(rehearsal) {
            throw ValidationError("--rehearsal takes an architecture: \(ModelZoo.architectures.joined(separator: ", "))")
        }
        guard rehearsalTemperature > 0 && rehearsalTemperature <= 100 else { throw ValidationError("--rehearsal-temperature must lie in (0, 100]") }
        guard utilityFloor >= 0 && utilityFloor < 1 else { throw ValidationError("--utility-floor must lie in [0, 1)") }
        guard mgdaInterval >= 1 else { throw ValidationError("--mgda-interval must be at least 1") }
        guard (0...1).contains(otherPairEvasion) else { throw ValidationError("--other-pair-evasion is a share between 0 and 1") }
        guard watermarkPerBatch >= 1, evasionPerBatch >= 0 else { throw ValidationError("--watermark-per-batch must be ≥ 1 and --evasion-per-batch ≥ 0") }
        guard triggerSetSize >= 1 else { throw ValidationError("--trigger-set-size must be at least 1") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
        guard (0...1).contains(minWsr) else { throw ValidationError("--min-wsr is a share between 0 and 1") }
        if let minAccuracy { guard (0...1).contains(minAccuracy) else { throw ValidationError("--min-accuracy is a share between 0 and 1") } }
        guard maxAccuracyCost >= 0 && maxAccuracyCost <= 100 else { throw ValidationError("--max-accuracy-cost is in points, 0–100") }
        if initModel == nil { guard ModelZoo.architectures.contains(arch) else { throw EngineError.unknownArchitecture(arch) } }
        _ = try parsedSources()
        _ = try combiner.map(CombinerOption.init(parsing:))
        guard autoencoderEpochs >= 1 else { throw ValidationError("--autoencoder-epochs must be at least 1") }
        if combiner != nil && method != WatermarkSpec.Method.meaDefender.rawValue {
            throw ValidationError("--combiner applies to --method mea-defender only")
        }
        _ = try parsedWeights()
    }

    private func parsedSources() throws -> [Int]? {
        guard let sources else { return nil }
        let labels = sources.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard labels.count == 2 else { throw ValidationError("--sources takes two labels, e.g. 0,1") }
        return labels
    }

    private func parsedWeights() throws -> [EmbeddingTask: Double]? {
        guard let fixedWeights else { return nil }
        let values = fixedWeights.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let expected = rehearsal == nil ? 4 : 5
        guard values.count == expected, values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw ValidationError(rehearsal == nil
                ? "--fixed-weights takes four non-negative numbers: utility,verification,combination,evasion"
                : "--fixed-weights with --rehearsal takes five non-negative numbers: utility,verification,combination,evasion,rehearsal")
        }
        return Dictionary(uniqueKeysWithValues: zip(EmbeddingTask.allCases, values))
    }

    func run() throws {
        engine.apply()
        for path in [out, specOut] { try ensureWritableFolder(for: path) }
        let trainSet = try DatasetCatalog.load(data, split: "train").prefix(trainLimit)
        let testSet = try DatasetCatalog.load(data, split: "test")
        let seed = optimizer.seed
        let spec: WatermarkSpec
        switch WatermarkSpec.Method(rawValue: method)! {
        case .meaDefender:
            spec = try WatermarkSpec.drawMEADefender(dataset: data, classNames: trainSet.classNames,
                                                     choices: SecretChoices(sourceLabels: try parsedSources(), targetLabel: target,
                                                                            watermark: try chosenCombiner(trainSet: trainSet)),
                                                     seed: seed, triggerSetSize: triggerSetSize)
        case .contentTrigger:
            spec = try WatermarkSpec.drawContentTrigger(dataset: data, classNames: trainSet.classNames, itemShape: trainSet.itemShape,
                                                        targetLabel: target, seed: seed, triggerSetSize: triggerSetSize)
        }
        let classifier: Classifier
        var targets = EmbeddingTargets(minimumWSR: minWsr, minimumAccuracy: minAccuracy)
        if let initModel {
            classifier = try Checkpoint.load(initModel)
            guard classifier.card.inputShape == trainSet.itemShape else {
                throw CommandFailure("\(initModel) takes \(classifier.card.inputShape) items but \(data) has \(trainSet.itemShape)")
            }
            let initial = Evaluation.accuracy(of: classifier, on: testSet)
            targets.minimumAccuracy = max(minAccuracy ?? 0, initial - maxAccuracyCost / 100)
            printStatus(String(format: "initial model: test %.2f%%; an epoch is kept at WSR ≥ %.1f%% and test ≥ %.2f%%",
                               100 * initial, 100 * minWsr, 100 * targets.minimumAccuracy!))
        } else {
            classifier = try Classifier.untrained(arch, for: trainSet, seed: seed)
        }

        var configuration = EmbeddingConfiguration()
        configuration.training = optimizer.configuration(epochs: epochs)
        configuration.training.augmentation = augmentation.augmentation
        configuration.watermarkPerBatch = watermarkPerBatch
        configuration.evasionPerBatch = evasionPerBatch
        configuration.otherPairEvasion = otherPairEvasion
        if noCom { configuration.tasks.remove(.combination) }
        if noEva { configuration.tasks.remove(.evasion) }
        configuration.sourcePull = sourcePull
        configuration.sourcePullCap = sourcePullCap
        configuration.anchorSources = anchorSources
        configuration.coupling = coupling
        configuration.rehearsal = rehearsal.map {
            var setup = RehearsalConfiguration(architecture: $0)
            setup.temperature = rehearsalTemperature
            return setup
        }
        if let weights = try parsedWeights() {
            configuration.weighting = .fixed(weights)
        } else {
            configuration.weighting = .mgda(interval: mgdaInterval, normalization: GradientNormalization(rawValue: mgdaNormalization)!,
                                            groups: MGDAGroups(rawValue: mgdaGroups)!, utilityFloor: utilityFloor)
        }

        printStatus("embedding a \(spec.method.rawValue) watermark into \(classifier.card.architecture) on \(trainSet.count) \(data) images, \(epochs) epochs")
        let triggers = try WatermarkEvaluation.triggerSamples(for: spec, from: testSet)
        let trainer = try EmbeddingTrainer(classifier: classifier, factory: try TriggerFactory(spec: spec, dataset: trainSet),
                                       configuration: configuration)
        let line = ProgressLine()
        let result = trainer.embed(testSet: testSet, verification: triggers, targets: targets) { progress in
            line.show(progress)
        }
        let figures = result.epochs.map { epoch in
            let weights = (epoch.weights ?? [:]).sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key, $0.value) }.joined(separator: ", ")
            return String(format: "epoch %d: test %.2f%%  WSR %.2f%%  weights: %@", epoch.epoch,
                          100 * (epoch.testAccuracy ?? 0), 100 * (epoch.wsr ?? 0), weights)
        }
        guard let keptEpoch = result.keptEpoch else {
            throw CommandFailure(String(format: "no epoch reached the targets (WSR ≥ %.1f%%", 100 * targets.minimumWSR)
                                 + (targets.minimumAccuracy.map { String(format: ", test accuracy ≥ %.2f%%", 100 * $0) } ?? "")
                                 + "); nothing was written:\n  " + figures.joined(separator: "\n  "))
        }
        figures.forEach(printStatus)
        printStatus("keeping epoch \(keptEpoch)")
        try Checkpoint.save(classifier, to: out)
        var sealed = spec
        sealed.modelDigest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: out)))
        try sealed.write(to: specOut)
        let scores = try WatermarkEvaluation.scores(of: classifier, spec: sealed, testSet: testSet)
        let student = trainer.student.map { student in
            RehearsalStudentFigures(architecture: student.card.architecture, accuracy: Evaluation.accuracy(of: student, on: testSet),
                                    wsr: WatermarkEvaluation.hitRate(of: student, on: triggers, label: spec.targetLabel))
        }
        if let student {
            printStatus(String(format: "rehearsal student (%@, after the last epoch): test %.2f%%  WSR %.2f%%",
                               student.architecture, 100 * student.accuracy, 100 * student.wsr))
        }
        let report = EmbedReport(method: sealed.method.rawValue, architecture: classifier.card.architecture, data: data,
                                 trainImages: trainSet.count, epochs: epochs, accuracy: scores.accuracy, wsr: scores.wsr,
                                 wfpr: scores.wfpr, trainingSeconds: result.trainingSeconds, model: out,
                                 modelSha256: sealed.modelDigest!, spec: specOut, keptEpoch: keptEpoch, perEpoch: result.epochs,
                                 rehearsalStudent: student)
        if json {
            try printJSON(report)
        } else {
            print(String(format: "accuracy %.2f%%  WSR %.2f%%  WFPR %@  → %@ (spec %@)", 100 * scores.accuracy, 100 * scores.wsr,
                         scores.wfpr.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a", out, specOut))
        }
    }
}

extension Embed {
    /// The owner's combining way, training the autoencoder first when the way needs one.
    private func chosenCombiner(trainSet: Dataset) throws -> Combiner? {
        switch try combiner.map(CombinerOption.init(parsing:)) {
        case nil: return nil
        case .ready(let combiner): return combiner
        case .autoencoderBlend(let ratio):
            let autoencoder = try Autoencoder(itemShape: trainSet.itemShape, seed: optimizer.seed ^ 0xA07E)
            let line = ProgressLine()
            let error = autoencoder.train(on: trainSet, epochs: autoencoderEpochs, seed: optimizer.seed ^ 0xA07E) { epoch, done, error in
                line.show(stage: String(format: "autoencoder epoch %d/%d  %d/%d images  mean squared error %.4f",
                                        epoch, autoencoderEpochs, done, trainSet.count, error),
                          finished: done == trainSet.count)
            }
            printStatus(String(format: "autoencoder trained: mean squared error %.4f per pixel", error))
            return .autoencoderBlend(try AutoencoderBlend(ratio: ratio, autoencoder: autoencoder))
        }
    }
}

struct EmbedReport: Encodable {
    var method: String
    var architecture: String
    var data: String
    var trainImages: Int
    var epochs: Int
    var accuracy: Double
    var wsr: Double
    var wfpr: Double?
    var trainingSeconds: Double
    var model: String
    var modelSha256: String
    var spec: String
    /// The epoch whose model was written (the most accurate one that met the targets).
    var keptEpoch: Int
    var perEpoch: [EpochSummary]
    var rehearsalStudent: RehearsalStudentFigures?
}

/// The rehearsal's student as the last epoch left it: how far the simulated thief got.
struct RehearsalStudentFigures: Encodable {
    var architecture: String
    var accuracy: Double
    var wsr: Double
}

/// Fails before long work, not after it, when an output file cannot be written.
func ensureWritableFolder(for path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    guard FileManager.default.isWritableFile(atPath: folder) else { throw CommandFailure("cannot write into \(folder)") }
}
