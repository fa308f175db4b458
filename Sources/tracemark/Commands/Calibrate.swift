import ArgumentParser
import Data
import Engine
import Forensics
import Foundation
import Vault
import Watermark

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a watermark's null: its trigger hit rate on independently trained clean models.",
        discussion: """
        Trains --references clean reference models (architectures in turn, a seed and a random \
        subset of the clean training split each; no watermark sample is ever in their data) — or \
        loads them from --reference-dir, where trained ones are also kept — and measures on each \
        the spec's trigger hit rate (the null; p0 is the largest Clopper–Pearson upper bound) and \
        the false watermarks: other source pairs combined the spec's way, and the right pair \
        combined the other ways (the paper's appendix B check; with --model also on the \
        watermarked model). With --model it also measures every other source pair on the \
        watermarked model and chooses as decoy pairs those it answers the target on at most 10 % \
        of the time: probes draw their decoys from these, so decoys measure a suspect's own bias \
        and not features it inherited from the watermarked model. From --vault the result is \
        signed with --key and stored beside the \
        registration, where `report create` finds it; --out also writes it as JSON.
        """
    )

    @Option(help: "The watermark spec (JSON); or --vault with --watermark.")
    var spec: String?

    @Option(help: "The owner's vault, with --watermark and --key.")
    var vault: String?

    @Option(help: "Registration (log index or record id) in --vault.")
    var watermark: String?

    @Option(help: "The owner's private key (PEM), to sign the calibration into the vault.")
    var key: String?

    @Option(help: "Key file the registration was sealed with, instead of the passphrase.")
    var keyFile: String?

    @Option(help: "How many reference models.")
    var references = 20

    @Option(help: "Reference architectures, comma-separated, used in turn.")
    var architectures = CalibrationPlan().architectures.joined(separator: ",")

    @Option(help: """
        How the references train: quick (\(CalibrationPlan.Recipe.quick.epochs) epoch on \(CalibrationPlan.Recipe.quick.trainImages) images, \
        the demo's) or full (\(CalibrationPlan.Recipe.full.epochs) epochs on \(CalibrationPlan.Recipe.full.trainImages) images: references as \
        accurate as real models, ≥ 90 % for fmnist-cnn). --epochs and --train-images override it.
        """)
    var recipe = "quick"

    @Option(help: "Training epochs per reference (default: the recipe's).")
    var epochs: Int?

    @Option(help: "Clean training images per reference, its own random subset (default: the recipe's).")
    var trainImages: Int?

    @Option(help: "Trigger samples per reference (default: the spec's trigger set size).")
    var triggers: Int?

    @Option(help: "Samples per false watermark.")
    var falseWatermarkSamples = 200

    @Option(help: "The watermarked model, to measure the false watermarks on it too.")
    var model: String?

    @Option(help: "Keep reference checkpoints here and reuse those already there.")
    var referenceDir: String?

    @Option(help: "Also write the calibration (JSON) here.")
    var out: String?

    @OptionGroup var engine: EngineOptions

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    func validate() throws {
        guard (spec == nil) != (vault == nil) else { throw ValidationError("give either --spec or --vault with --watermark and --key") }
        if vault != nil, watermark == nil || key == nil { throw ValidationError("--vault needs --watermark and --key") }
        if spec != nil, out == nil { throw ValidationError("--spec needs --out (a calibration outside a vault is not stored anywhere else)") }
        guard CalibrationPlan.Recipe(rawValue: recipe) != nil else { throw ValidationError("--recipe must be quick or full") }
        guard references >= 1, epochs ?? 1 >= 1, trainImages ?? 1 >= 1, falseWatermarkSamples >= 1 else {
            throw ValidationError("--references, --epochs, --train-images and --false-watermark-samples must be at least 1")
        }
        if let triggers, triggers < 1 { throw ValidationError("--triggers must be at least 1") }
        for architecture in architectureList where !ModelZoo.architectures.contains(architecture) {
            throw ValidationError("unknown architecture '\(architecture)'; known: \(ModelZoo.architectures.joined(separator: ", "))")
        }
    }

    var architectureList: [String] { architectures.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() throws {
        engine.apply()
        let sealed = try vault.map { try SealedWatermark(vault: $0, watermark: watermark!, keyFile: keyFile) }
        let watermarkSpec = try sealed?.spec ?? WatermarkSpec.load(spec!)
        // Only with --vault, where validate() requires --key.
        let signer = try sealed.map { try $0.ownerKey(at: key!) }
        if let referenceDir { try FileManager.default.createDirectory(atPath: referenceDir, withIntermediateDirectories: true) }
        if let out { try ensureWritableFolder(for: out) }

        var plan = CalibrationPlan(recipe: CalibrationPlan.Recipe(rawValue: recipe)!)
        plan.references = references
        plan.architectures = architectureList
        if let epochs { plan.epochs = epochs }
        if let trainImages { plan.trainImages = trainImages }
        plan.triggers = triggers
        plan.falseWatermarkSamples = falseWatermarkSamples
        let trainSet = try DatasetCatalog.load(watermarkSpec.dataset, split: "train")
        let verificationSet = try DatasetCatalog.load(watermarkSpec.dataset, split: watermarkSpec.verificationSplit)
        let watermarked = try model.map(Checkpoint.load)
        printStatus("calibrating with \(references) reference models (\(architectureList.joined(separator: ", ")), \(recipe) recipe: \(plan.epochs) epoch\(plan.epochs == 1 ? "" : "s") on \(min(plan.trainImages, trainSet.count)) clean images each)")
        let started = Date()
        let calibrator = Calibrator(spec: watermarkSpec, trainSet: trainSet, verificationSet: verificationSet, plan: plan,
                                    referenceFolder: referenceDir.map { URL(fileURLWithPath: $0) })
        if let fingerprint = sealed?.fingerprint {
            printStatus("the registration has a fingerprint (\(fingerprint.fingerprint.inputs.count) inputs): its null is measured on the same references")
        }
        let calibration = try calibrator.run(watermarked: watermarked, fingerprint: sealed?.fingerprint) { printStatus($0) }
        let payload = try calibration.encoded()
        if let sealed, let signer {
            try sealed.vault.attach(payload, type: Calibration.payloadType, to: sealed.entry.recordId, signer: signer)
        }
        if let out { try payload.write(to: URL(fileURLWithPath: out)) }

        let report = CalibrationReport(calibration: calibration, sha256: sha256Hex(payload), seconds: Date().timeIntervalSince(started),
                                       storedInVault: sealed.map { "\(vault!) record \($0.entry.recordId)" }, out: out)
        if json { try printJSON(report) } else {
            let hits = calibration.references.map { "\($0.triggerHits)/\($0.triggers)" }.joined(separator: " ")
            print("reference trigger hits: \(hits)")
            print(String(format: "p0 %.4f %%  (%d references, %.0f s)", 100 * calibration.p0, calibration.references.count, report.seconds))
            if let fingerprintP0 = calibration.fingerprintP0 {
                let agreements = calibration.references.map { "\($0.fingerprintHits ?? 0)/\($0.fingerprintInputs ?? 0)" }.joined(separator: " ")
                print("reference fingerprint agreements: \(agreements)")
                print(String(format: "fingerprint p0 %.4f %%", 100 * fingerprintP0))
            }
            for fake in calibration.falseWatermarks {
                let rates = fake.referenceRates.map { String(format: "%.1f", 100 * $0) }.joined(separator: " ")
                print("false watermark \(fake.name): clean models \(rates) %" + (fake.watermarkedRate.map { String(format: "; watermarked model %.1f %%", 100 * $0) } ?? ""))
            }
            if let pairs = calibration.otherPairs {
                let decoys = calibration.decoyPairs?.map { $0.map(String.init).joined(separator: "+") }.joined(separator: " ") ?? "none"
                print(String(format: "decoy pairs (watermarked model ≤ %.0f %% of %d other pairs): %@", 100 * Calibration.decoyCeiling, pairs.count, decoys)
                      + (calibration.decoyPairs == nil ? " — probes use every other pair and the other combining ways" : ""))
            }
            if let stored = report.storedInVault { print("signed and stored in the vault beside \(stored)") }
        }
    }
}

struct CalibrationReport: Encodable {
    var calibration: Calibration
    var sha256: String
    var seconds: Double
    var storedInVault: String?
    var out: String?
}
