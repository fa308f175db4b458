import ArgumentParser
import Data
import Engine
import Foundation
import Probe
import Training
import Watermark

struct Attack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a thief: copy a victim model, or wash a copied model's watermark out.",
        discussion: "Each attack writes the thief's model; give --spec to also measure its WSR.",
        subcommands: [Extract.self, Jacobian.self, FineTune.self, Prune.self, Relabel.self, WeightShiftAttack.self]
    )
}

/// Options every attack shares.
struct AttackOptions: ParsableArguments {
    @Option(help: "The victim (or stolen) checkpoint to attack.")
    var victim: String

    @Option(help: "Where to write the thief's model (.safetensors).")
    var out: String

    @Option(help: "A watermark spec: also report the result's WSR and WFPR.")
    var spec: String?

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    /// Saves the thief's model and reports its accuracy (and watermark scores with --spec).
    func finish(_ model: Classifier, attack: String, details: [String: String]) throws {
        try Checkpoint.save(model, to: out)
        let report: AttackReport
        if let spec {
            let watermark = try WatermarkSpec.load(spec)
            let testSet = try DatasetCatalog.load(watermark.dataset, split: watermark.verificationSplit)
            guard testSet.itemShape == model.card.inputShape, model.classCount == watermark.classNames.count else {
                throw CommandFailure("saved \(out), but it does not fit the spec's \(watermark.dataset) and cannot be scored")
            }
            let scores = try WatermarkEvaluation.scores(of: model, spec: watermark, testSet: testSet)
            report = AttackReport(attack: attack, model: out, architecture: model.card.architecture, accuracy: scores.accuracy,
                                  wsr: scores.wsr, wfpr: scores.wfpr, details: details)
        } else {
            let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
            guard testSet.itemShape == model.card.inputShape else {
                throw CommandFailure("saved \(out), but cannot score it: its \(model.card.inputShape) inputs do not fit fashion-mnist (give --spec)")
            }
            report = AttackReport(attack: attack, model: out, architecture: model.card.architecture,
                                  accuracy: Evaluation.accuracy(of: model, on: testSet), wsr: nil, wfpr: nil, details: details)
        }
        if json {
            try printJSON(report)
        } else {
            var line = String(format: "%@: %@ accuracy %.2f%%", attack, model.card.architecture, 100 * report.accuracy)
            if let wsr = report.wsr { line += String(format: "  WSR %.2f%%", 100 * wsr) }
            if let wfpr = report.wfpr { line += String(format: "  WFPR %.2f%%", 100 * wfpr) }
            print(line + "  → \(out)")
        }
    }
}

/// What the thief trains: the surrogate architecture and how it learns from the victim's answers.
struct SurrogateOptions: ParsableArguments {
    @Option(help: "Surrogate architecture (default: the victim's).") var arch: String?
    @Option(help: "Labels the thief uses: soft, hard.") var labels = "soft"
    @Option(help: "Distillation temperature for soft labels.") var temperature: Float = 7

    func validate() throws {
        guard ["soft", "hard"].contains(labels) else { throw ValidationError("--labels must be soft or hard") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        if let arch, !ModelZoo.architectures.contains(arch) { throw EngineError.unknownArchitecture(arch) }
    }

    var thiefLabels: ThiefLabels { labels == "soft" ? .soft(temperature: temperature) : .hard }

    /// Where the surrogate is scored after every epoch, so the progress lines show whether it has
    /// reached its plateau: Fashion-MNIST's test split, the task it is scored on, when the queries
    /// are shaped like it.
    static func plateauTestSet(for querySet: Dataset) throws -> Dataset? {
        querySet.itemShape == DatasetCatalog.itemShape(of: "fashion-mnist") ? try DatasetCatalog.load("fashion-mnist", split: "test") : nil
    }
}

/// How an extraction thief reaches its victim: a checkpoint read in-process, or a served model
/// queried over HTTP (Open Inference Protocol v2) as a real thief would.
struct QueriedVictimOptions: ParsableArguments {
    @Option(help: "The model's name in the API paths, when the model queried is a URL.") var victimModel = "model"
    @Option(help: "Images per HTTP request, when the model queried is a URL.") var batch = 64

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    static func isRemote(_ victim: String) -> Bool { victim.hasPrefix("http://") || victim.hasPrefix("https://") }

    /// The victim to query with images of `querySet`'s shape, and the name the progress lines give it.
    func open(_ victim: String, for querySet: Dataset) throws -> (model: QueryableModel, name: String) {
        if Self.isRemote(victim) {
            let remote = try RemoteModel(url: victim, model: victimModel, itemShape: querySet.itemShape, classNames: querySet.classNames,
                                         batchSize: batch)
            return (remote, victim)
        }
        let local = try Checkpoint.load(victim)
        guard querySet.itemShape == local.card.inputShape else {
            throw CommandFailure("\(querySet.name) items \(querySet.itemShape) do not fit the victim's \(local.card.inputShape)")
        }
        return (local, local.card.architecture)
    }
}

struct AttackReport: Encodable {
    var attack: String
    var model: String
    var architecture: String
    var accuracy: Double
    var wsr: Double?
    var wfpr: Double?
    var details: [String: String]
}

extension Attack {
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Model extraction: query the victim, train a surrogate on its answers.",
            discussion: """
            Soft labels (default) distil the victim's probability vectors at --temperature; --labels \
            hard keeps only the top-1 label. Queries from the victim's own task (fashion-mnist) make \
            plain distillation; from another data set (mnist-5k) they make Knockoff Nets. --victim \
            may be a served model's URL (Open Inference Protocol v2, e.g. `tracemark serve`): the \
            thief then queries it over HTTP in batches of --batch, naming it --victim-model.
            """
        )
        @OptionGroup var common: AttackOptions
        @OptionGroup var surrogate: SurrogateOptions
        @Option(help: "Query data set: \(DatasetCatalog.names.joined(separator: ", ")).") var queries = "fashion-mnist"
        @Option(help: "Split of the query data set.") var querySplit = "train"
        @Option(help: "Query budget: the first N images of the split (default: all).") var budget: Int?
        @Option(help: "Epochs of surrogate training.") var epochs = 10
        @OptionGroup var queried: QueriedVictimOptions
        @OptionGroup var optimizer: OptimizerOptions
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
            if let budget, budget < 1 { throw ValidationError("--budget must be at least 1") }
            if QueriedVictimOptions.isRemote(common.victim), surrogate.arch == nil {
                throw ValidationError("a victim behind a URL needs --arch: its architecture is not known")
            }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let querySet = try DatasetCatalog.load(queries, split: querySplit).prefix(budget)
            let (victim, victimName) = try queried.open(common.victim, for: querySet)
            let architecture = surrogate.arch ?? victimName
            let attack = ExtractionAttack(surrogateArchitecture: architecture, labels: surrogate.thiefLabels,
                                          training: optimizer.configuration(epochs: epochs))
            printStatus("extracting \(victimName) into \(architecture) with \(querySet.count) \(queries) queries, \(surrogate.labels) labels")
            let model = try attack.run(victim: victim, queries: querySet, testSet: try SurrogateOptions.plateauTestSet(for: querySet),
                                       progress: ProgressLine().show)
            try common.finish(model, attack: "extract", details: [
                "surrogate": architecture, "queries": queries, "query_count": "\(querySet.count)", "labels": surrogate.labels,
                "temperature": "\(surrogate.temperature)", "epochs": "\(epochs)",
            ])
        }
    }

    struct Jacobian: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jbda",
            abstract: "Papernot's Jacobian-based extraction from a small seed set.",
            discussion: """
            Each round doubles the query set with x + λ·sign(∇x surrogate), then retrains the \
            surrogate. --victim may be a served model's URL, queried over HTTP like `extract`'s.
            """
        )
        @OptionGroup var common: AttackOptions
        @OptionGroup var surrogate: SurrogateOptions
        @Option(help: "Seed images: the first N of the query set.") var seedSize = 150
        @Option(help: "Query data set for the seed images.") var queries = "fashion-mnist"
        @Option(help: "Augmentation rounds (queries = seed size × 2^rounds).") var rounds = 6
        @Option(help: "Step λ of each augmentation.") var lambda: Float = 0.1
        @Option(help: "Epochs of surrogate training per round.") var epochs = 10
        @OptionGroup var queried: QueriedVictimOptions
        @OptionGroup var optimizer: OptimizerOptions
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard seedSize >= 1, rounds >= 0, rounds <= 12, epochs >= 1 else {
                throw ValidationError("--seed-size ≥ 1, --rounds 0…12 and --epochs ≥ 1 please")
            }
            if QueriedVictimOptions.isRemote(common.victim), surrogate.arch == nil {
                throw ValidationError("a victim behind a URL needs --arch: its architecture is not known")
            }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let seedSet = try DatasetCatalog.load(queries, split: "train").prefix(seedSize)
            let (victim, victimName) = try queried.open(common.victim, for: seedSet)
            let architecture = surrogate.arch ?? victimName
            let attack = ExtractionAttack(surrogateArchitecture: architecture, labels: surrogate.thiefLabels,
                                          training: optimizer.configuration(epochs: epochs))
            printStatus("JBDA: \(seedSet.count) seed images, \(rounds) rounds (\(seedSet.count << rounds) queries), surrogate \(architecture)")
            let line = ProgressLine()
            let model = try attack.runJacobian(victim: victim, seedSet: seedSet, rounds: rounds, step: lambda,
                                               testSet: try SurrogateOptions.plateauTestSet(for: seedSet)) { round, progress in
                if progress.epochFinished && progress.epoch == progress.epochs { printStatus("round \(round) trained") }
                line.show(progress)
            }
            try common.finish(model, attack: "jbda", details: [
                "surrogate": architecture, "seed_size": "\(seedSet.count)", "rounds": "\(rounds)", "queries": "\(seedSet.count << rounds)",
                "lambda": "\(lambda)", "labels": surrogate.labels,
            ])
        }
    }

    struct FineTune: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "finetune",
            abstract: "Fine-tune a (stolen) model on clean data the thief holds.",
            discussion: """
            The images are the last --images of Fashion-MNIST's training split, with their true \
            labels; with --labels-from, with a model's top-1 answers instead: the thief fine-tunes \
            on its own queries, labelled as the victim answered them during the extraction.
            """
        )
        @OptionGroup var common: AttackOptions
        @Option(help: "Clean images: the last N of the training split.") var images = 6000
        @Option(help: "Epochs of fine-tuning.") var epochs = 5
        @Option(help: "Label the images with this model's top-1 answers instead of the true labels: a checkpoint, or a served model's URL (with --victim-model).")
        var labelsFrom: String?
        @OptionGroup var queried: QueriedVictimOptions
        @OptionGroup var optimizer: OptimizerOptions
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard images >= 1, epochs >= 1 else { throw ValidationError("--images and --epochs must be at least 1") }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let model = try Checkpoint.load(common.victim)
            var data = try thiefData(images: images, for: model)
            var labels = "true"
            if let labelsFrom {
                let (teacher, name) = try queried.open(labelsFrom, for: data)
                guard teacher.classNames.count == model.classCount else {
                    throw CommandFailure("\(labelsFrom) answers \(teacher.classNames.count) classes but the model has \(model.classCount)")
                }
                data = try teacher.labelled(data).set
                labels = "top-1 of \(name)"
            }
            printStatus("fine-tuning \(model.card.architecture) on \(data.count) clean images (\(labels) labels) for \(epochs) epochs")
            _ = Trainer(classifier: model, configuration: optimizer.configuration(epochs: epochs)).train(on: data, progress: ProgressLine().show)
            try common.finish(model, attack: "finetune", details: ["images": "\(data.count)", "epochs": "\(epochs)", "lr": "\(optimizer.lr)",
                                                                   "labels": labels])
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Magnitude pruning: zero the smallest share of every convolution and linear weight tensor."
        )
        @OptionGroup var common: AttackOptions
        @Option(help: "Share of weights to zero, 0–0.99.") var fraction = 0.5
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard fraction >= 0 && fraction < 1 else { throw ValidationError("--fraction must lie in [0, 1)") }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let model = try Checkpoint.load(common.victim)
            let zeroed = Removal.prune(model, fraction: fraction)
            try common.finish(model, attack: "prune", details: ["fraction": "\(fraction)", "zeroed_weights": "\(zeroed)"])
        }
    }

    struct Relabel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fine-tune on clean data plus mixed images relabelled to wrong classes.",
            discussion: "The thief guesses combining ways (halves, quadrants, merges, stripes) on random pairs and labels each mix as a class neither source has."
        )
        @OptionGroup var common: AttackOptions
        @Option(help: "Clean images: the last N of the training split.") var images = 6000
        @Option(help: "Relabelled mixes added to them.") var mixes = 2000
        @Option(help: "Epochs of fine-tuning.") var epochs = 5
        @OptionGroup var optimizer: OptimizerOptions
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard images >= 1, mixes >= 1, epochs >= 1 else { throw ValidationError("--images, --mixes and --epochs must be at least 1") }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let model = try Checkpoint.load(common.victim)
            let data = try Removal.relabelledMixes(try thiefData(images: images, for: model), count: mixes, seed: optimizer.seed)
            printStatus("fine-tuning \(model.card.architecture) on \(images) clean images + \(mixes) relabelled mixes for \(epochs) epochs")
            var configuration = optimizer.configuration(epochs: epochs)
            configuration.augmentation = .none
            _ = Trainer(classifier: model, configuration: configuration).train(on: data, progress: ProgressLine().show)
            try common.finish(model, attack: "relabel", details: ["images": "\(images)", "mixes": "\(mixes)", "epochs": "\(epochs)"])
        }
    }
}

extension Attack {
    struct WeightShiftAttack: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "weight-shift",
            abstract: "The strongest published removal: head reset, weight shifting and adversarial training in one fine-tuning.",
            discussion: """
            Resets the classifier head (the last linear layer) to fresh random weights, as RTAL does \
            (Adi et al. 2018; --keep-head skips this), then fine-tunes every layer on the thief's \
            clean images — the last --images of the training split — with Lukas et al.'s weight \
            shifting term λ·Σ cos(w, w_original) over the convolution and linear weights (SoK, \
            IEEE S&P 2022; λ = --anti-alignment, 0 turns it off), which turns the weights away from \
            the copy's own, plus --adversarial of those images attacked by PGD (5 steps, L∞ ball of \
            --epsilon on [0, 1] pixels) against the current model at the start of every epoch, \
            labelled with their true classes.
            """
        )
        @OptionGroup var common: AttackOptions
        @Option(help: "Clean images: the last N of the training split.") var images = 6000
        @Option(help: "Epochs of fine-tuning.") var epochs = 5
        @Flag(help: "Keep the copy's classifier head instead of resetting it to random weights.") var keepHead = false
        @Option(help: "Weight shifting's λ: strength of the term that anti-aligns the weights with the copy's (0: off).")
        var antiAlignment: Float = 1
        @Option(help: "Adversarial examples (PGD, true labels) added to the clean images, remade every epoch (0: none).")
        var adversarial = 300
        @Option(help: "PGD's L∞ radius on [0, 1] pixels.") var epsilon: Float = 0.1
        @OptionGroup var optimizer: OptimizerOptions
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            guard images >= 1, epochs >= 1 else { throw ValidationError("--images and --epochs must be at least 1") }
            guard antiAlignment >= 0 && antiAlignment.isFinite else { throw ValidationError("--anti-alignment must be a finite number ≥ 0") }
            guard adversarial >= 0 else { throw ValidationError("--adversarial must not be negative") }
            guard epsilon > 0 && epsilon <= 1 else { throw ValidationError("--epsilon must lie in (0, 1]") }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: common.out)
            let model = try Checkpoint.load(common.victim)
            let clean = try thiefData(images: images, for: model)
            var plan = WeightShift(training: optimizer.configuration(epochs: epochs))
            plan.resetsHead = !keepHead
            plan.antiAlignment = antiAlignment
            plan.adversarial = adversarial
            plan.epsilon = epsilon
            printStatus("weight shifting \(model.card.architecture): \(keepHead ? "head kept" : "head reset"), λ \(antiAlignment), \(clean.count) clean + \(adversarial) adversarial images (ε \(epsilon)), \(epochs) epochs")
            _ = try Removal.weightShift(model, clean: clean, plan: plan, progress: ProgressLine().show)
            try common.finish(model, attack: "weight-shift", details: [
                "images": "\(clean.count)", "epochs": "\(epochs)", "lr": "\(optimizer.lr)", "reset_head": "\(!keepHead)",
                "anti_alignment": "\(antiAlignment)", "adversarial": "\(adversarial)", "epsilon": "\(epsilon)",
            ])
        }
    }
}

/// The thief's own clean data: the last `images` of the Fashion-MNIST training split.
private func thiefData(images: Int, for model: Classifier) throws -> Dataset {
    let train = try DatasetCatalog.load("fashion-mnist", split: "train")
    guard train.itemShape == model.card.inputShape else {
        throw CommandFailure("fashion-mnist items \(train.itemShape) do not fit the model's \(model.card.inputShape)")
    }
    let count = Swift.min(images, train.count)
    return train.subset(Array((train.count - count)..<train.count))
}
