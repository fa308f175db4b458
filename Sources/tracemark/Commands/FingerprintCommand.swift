import ArgumentParser
import Data
import Engine
import Forensics
import Foundation
import Training

struct FingerprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "A protected model's fingerprint: inputs it answers as independent models do not, to recognise its copies by.",
        discussion: """
        The second evidence channel, made from the protected model alone, after training: no \
        change to the model. Its inputs are held-out images turned inside out (inverted images, \
        inverted mixes of two), where a copy keeps the protected model's answers through \
        distillation and fine-tuning; decoys are inputs of the same kind labelled with the odd \
        answers of a twin (a clean model of the same recipe), so a suspect independent of both \
        gives the decoys' labels as often as the fingerprint's. `tracemark register \
        --fingerprint` seals it beside the watermark; probes then query it in the same plan.
        """,
        subcommands: [Make.self, Evaluate.self]
    )

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Choose a fingerprint of a protected model with independently trained filter references.",
            discussion: """
            Draws --candidates inputs, trains --references clean filter models (architectures in \
            turn, each on its own random subset of the training split; kept in and reused from \
            --reference-dir), and splits the candidates in two halves: --inputs from the first on \
            which the protected model answers what neither --twin nor any filter model does, \
            labelled with its answers, and --decoys from the second on which the twin answers what \
            neither the protected model nor any filter model does, labelled with the twin's. The \
            twin is a clean model of the protected model's recipe with other seeds (no \
            watermark). The filter models' seeds never \
            meet the calibration's: the fingerprint's null must be measured on other models.
            """
        )

        @Option(help: "The protected model's checkpoint.")
        var model: String

        @Option(help: "The protected model's twin: a clean model trained with its recipe and other seeds (its own odd answers label the decoys).")
        var twin: String

        @Option(help: "Where to write the fingerprint (.safetensors).")
        var out: String

        @Option(help: "Data set: \(DatasetCatalog.names.joined(separator: ", ")).")
        var data = "fashion-mnist"

        @Option(help: "The held-out split candidates are made from.")
        var split = "test"

        @Option(help: "Candidates: inverted (inverted images and mixes) or adversarial (targeted PGD against the model).")
        var kind = FingerprintMaker.Plan().kind.rawValue

        @Option(help: "Adversarial candidates: the L∞ radius, in pixels of [0, 1].")
        var epsilon = FingerprintMaker.Plan().epsilon

        @Option(help: "Adversarial candidates: PGD steps.")
        var steps = FingerprintMaker.Plan().steps

        @Option(help: "Fingerprint inputs.")
        var inputs = FingerprintMaker.Plan().inputs

        @Option(help: "Decoys.")
        var decoys = FingerprintMaker.Plan().decoys

        @Option(help: "Candidates drawn (half inverted images, half inverted mixes).")
        var candidates = FingerprintMaker.Plan().candidates

        @OptionGroup var filterReferences: FilterReferenceOptions<Make>

        @OptionGroup var engine: EngineOptions

        @Flag(help: "Print one JSON object with the results on standard output.")
        var json = false

        var plan: FingerprintMaker.Plan {
            var plan = FingerprintMaker.Plan()
            plan.kind = FingerprintCandidates.Kind(rawValue: kind) ?? plan.kind
            plan.epsilon = epsilon
            plan.steps = steps
            plan.inputs = inputs
            plan.decoys = decoys
            plan.candidates = candidates
            plan.filterReferences = filterReferences.plan()
            return plan
        }

        func validate() throws {
            guard FingerprintCandidates.Kind(rawValue: kind) != nil else {
                throw ValidationError("--kind must be one of \(FingerprintCandidates.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let problem = plan.problem { throw ValidationError(problem) }
        }

        func run() throws {
            engine.apply()
            try ensureWritableFolder(for: out)
            let checkpoint = try Data(contentsOf: URL(fileURLWithPath: model)), twinCheckpoint = try Data(contentsOf: URL(fileURLWithPath: twin))
            let classifier = try Checkpoint.load(model)
            let maker = try FingerprintMaker(plan: plan, datasetName: data, trainSet: try DatasetCatalog.load(data, split: "train"),
                                             candidateSet: try DatasetCatalog.load(data, split: split), candidateSplit: split,
                                             referenceFolder: try filterReferences.folder())
            let references = plan.filterReferences
            printStatus("choosing a fingerprint from \(candidates) candidates with \(references.count) filter references (\(references.architectures.joined(separator: ", ")), \(references.epochs) epoch\(references.epochs == 1 ? "" : "s") on \(references.trainImages) images each)")
            let started = Date()
            let fingerprint = try maker.make(protected: classifier, checkpointSha256: sha256Hex(checkpoint), twin: try Checkpoint.load(twin),
                                             twinSha256: sha256Hex(twinCheckpoint)) { printStatus($0) }
            let encoded = try fingerprint.encoded()
            try encoded.write(to: URL(fileURLWithPath: out), options: .atomic)
            let own = try fingerprint.agreement(of: classifier)
            let report = FingerprintMakeReport(out: out, sha256: sha256Hex(encoded), inputs: fingerprint.inputs.count,
                                               decoys: fingerprint.decoys.count, candidates: candidates,
                                               labelCounts: (0..<fingerprint.provenance.classNames.count).map { label in
                                                   fingerprint.inputs.labels.filter { $0 == label }.count },
                                               protectedDecoyAgreement: fingerprint.decoys.count == 0 ? nil : Double(own.decoyHits) / Double(fingerprint.decoys.count),
                                               seconds: Date().timeIntervalSince(started))
            if json { try printJSON(report) } else {
                print("fingerprint: \(report.inputs) inputs, \(report.decoys) decoys → \(out) (sha256 \(report.sha256.prefix(16))…)")
                print("labels per class: \(report.labelCounts.map(String.init).joined(separator: " "))")
            }
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "eval",
            abstract: "Measure how often models agree with a fingerprint and with its decoys."
        )

        @Option(help: "The fingerprint (.safetensors).")
        var fingerprint: String

        @Argument(help: "Checkpoints to measure.")
        var models: [String]

        @OptionGroup var engine: EngineOptions

        @Flag(help: "Print one JSON object with the results on standard output.")
        var json = false

        func validate() throws {
            guard !models.isEmpty else { throw ValidationError("give at least one checkpoint to measure") }
        }

        func run() throws {
            engine.apply()
            let loaded = try Fingerprint(decoding: try Data(contentsOf: URL(fileURLWithPath: fingerprint)), path: fingerprint)
            var rows: [FingerprintAgreement] = []
            for model in models {
                let (hits, decoyHits) = try loaded.agreement(of: try Checkpoint.load(model))
                let row = FingerprintAgreement(model: model, hits: hits, inputs: loaded.inputs.count, decoyHits: decoyHits, decoys: loaded.decoys.count)
                rows.append(row)
                if !json {
                    print(String(format: "%@: fingerprint %d/%d (%.1f %%), decoys %d/%d (%.1f %%)", model, hits, row.inputs, 100 * row.rate,
                                 decoyHits, row.decoys, 100 * (row.decoyRate ?? 0)))
                }
            }
            if json { try printJSON(FingerprintEvalReport(fingerprint: fingerprint, models: rows)) }
        }
    }
}

struct FingerprintMakeReport: Encodable {
    var out: String
    var sha256: String
    var inputs: Int
    var decoys: Int
    var candidates: Int
    /// Fingerprint inputs per protected-model answer, class by class.
    var labelCounts: [Int]
    /// How often the protected model itself answers the decoys' labels (by chance: they are another input's).
    var protectedDecoyAgreement: Double?
    var seconds: Double
}

struct FingerprintAgreement: Encodable {
    var model: String
    var hits: Int
    var inputs: Int
    var decoyHits: Int
    var decoys: Int
    var rate: Double
    var decoyRate: Double?

    init(model: String, hits: Int, inputs: Int, decoyHits: Int, decoys: Int) {
        (self.model, self.hits, self.inputs, self.decoyHits, self.decoys) = (model, hits, inputs, decoyHits, decoys)
        rate = Double(hits) / Double(inputs)
        decoyRate = decoys == 0 ? nil : Double(decoyHits) / Double(decoys)
    }
}

struct FingerprintEvalReport: Encodable {
    var fingerprint: String
    var models: [FingerprintAgreement]
}

extension FingerprintCommand.Make: FilterReferenceDefaults {
    static var defaultFilterReferences: ReferenceModels.Plan { FingerprintMaker.Plan().filterReferences }
}
