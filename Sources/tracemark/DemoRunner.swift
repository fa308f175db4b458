import Forensics
import Foundation

/// Runs `tracemark` commands for the demo as child processes of this same binary: each stage's
/// progress goes to standard error as it happens, its `--json` answer comes back parsed.
final class DemoRunner {
    let environment: [String: String]
    private var stageNumber = 0
    private let started = Date()
    /// This very binary, even if a rebuild has replaced the file since it started.
    private static let executable = "/proc/self/exe"

    init(passphrase: String) {
        environment = ProcessInfo.processInfo.environment.merging(["TRACEMARK_PASSPHRASE": passphrase]) { $1 }
    }

    /// Runs one command to completion; its standard output parsed as JSON when it printed any.
    @discardableResult
    func stage(_ title: String, _ arguments: [String]) throws -> JSONAnswer {
        stageNumber += 1
        printStatus("\n[\(stageNumber)] \(title)  (\(ProgressLine.duration(Date().timeIntervalSince(started))) in)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            // Its standard error (the reason) has already gone to ours.
            let printed = data.isEmpty ? "see its messages above" : String(decoding: data.suffix(2000), as: UTF8.self)
            throw CommandFailure("demo stage '\(title)' failed (tracemark \(arguments.first ?? "") exited with \(process.terminationStatus)): \(printed)")
        }
        if !arguments.contains("--json") { FileHandle.standardError.write(data) }
        return JSONAnswer(arguments.contains("--json") ? (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] : [:])
    }

    /// Runs `body` with `tracemark serve` answering for `model` on a free local port (its log in
    /// `log`), and stops the server however `body` ends.
    func serving<T>(_ model: String, name: String, log: String, _ body: (_ url: String) throws -> T) throws -> T {
        stageNumber += 1
        printStatus("\n[\(stageNumber)] serve \(URL(fileURLWithPath: model).lastPathComponent) over HTTP  (\(ProgressLine.duration(Date().timeIntervalSince(started))) in)")
        guard FileManager.default.createFile(atPath: log, contents: nil), let logHandle = FileHandle(forWritingAtPath: log) else {
            throw CommandFailure("cannot write \(log)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["serve", "--model", model, "--port", "0", "--name", name, "--threads", "1"]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = logHandle
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            throw CommandFailure("tracemark serve did not start (see \(log))")
        }
        printStatus(line.trimmingCharacters(in: .whitespacesAndNewlines))
        return try body("http://127.0.0.1:\(port)")
    }
}

/// A command's `--json` answer, read by key; absent keys read as zero, empty or false.
struct JSONAnswer {
    let fields: [String: Any]
    init(_ fields: [String: Any]) { self.fields = fields }

    func number(_ key: String) -> Double { (fields[key] as? NSNumber)?.doubleValue ?? 0 }
    func string(_ key: String) -> String { fields[key] as? String ?? "" }
    func bool(_ key: String) -> Bool { (fields[key] as? NSNumber)?.boolValue ?? false }
    func list(_ key: String) -> [Any] { fields[key] as? [Any] ?? [] }
    func object(_ key: String) -> JSONAnswer { JSONAnswer(fields[key] as? [String: Any] ?? [:]) }
}

struct DemoSummary: Encodable {
    struct Suspect: Encodable {
        var name: String
        var accuracy: Double
        /// Over both channels.
        var verdict: String
        var watermarkVerdict: String
        var wsr: Double
        var triggerHits: Int
        var triggers: Int
        var decoyHits: Int
        var decoys: Int
        var log10CalibratedPValue: Double
        var log10DecoyPValue: Double
        var log10PValue: Double
        var fingerprintVerdict: String
        var fingerprintHits: Int
        var fingerprints: Int
        var fingerprintDecoyHits: Int
        var fingerprintDecoys: Int
        var fingerprintLog10PValue: Double
        var paperVerdict: String
        var verified: Bool
        var report: String
    }

    var folder: String
    var seconds: Double
    var victimAccuracy: Double
    var victimWSR: Double
    var calibratedP0: Double
    var fingerprintP0: Double
    var suspects: [Suspect]
    /// The TEST-ONLY passphrase of the demo's keys and vault.
    var passphrase: String

    /// The verdicts the demo must reach: the stolen copy infringes, the independent model does not.
    static let expectedVerdicts = ["stolen": Verdict.infringement, "independent": .noEvidence]

    /// Which suspects missed their expected verdict or a verified report, or nil when none did.
    var wrongVerdicts: String? {
        let wrong = suspects.filter { Self.expectedVerdicts[$0.name].map(\.rawValue) != $0.verdict || !$0.verified }
            .map { "\($0.name) model: \($0.verdict)\($0.verified ? "" : ", report NOT verified"), expected \(Self.expectedVerdicts[$0.name]?.rawValue ?? "?")" }
        return wrong.isEmpty ? nil : wrong.joined(separator: "; ")
    }

    func print() {
        Swift.print("\nTracemark demo finished in \(ProgressLine.duration(seconds)); every artefact is in \(folder)/")
        Swift.print(String(format: "victim fmnist-cnn: accuracy %.2f %%, WSR %.2f %%; calibrated null p0 %.3f %%, fingerprint null %.2f %%",
                           100 * victimAccuracy, 100 * victimWSR, 100 * calibratedP0, 100 * fingerprintP0))
        for s in suspects {
            Swift.print(String(format: "%@ model: accuracy %.2f %%, trigger hits %d/%d (WSR %.2f %%), decoy hits %d/%d; p = %@ against the calibrated null, %@ against the decoys: watermark %@",
                               s.name, 100 * s.accuracy, s.triggerHits, s.triggers, 100 * s.wsr, s.decoyHits, s.decoys,
                               Decision.scientific(s.log10CalibratedPValue), Decision.scientific(s.log10DecoyPValue), s.watermarkVerdict))
            Swift.print(String(format: "  fingerprint agreements %d/%d, twin's answers on decoys %d/%d; p = %@: fingerprint %@ (recorded, not part of the verdict)",
                               s.fingerprintHits, s.fingerprints, s.fingerprintDecoyHits, s.fingerprintDecoys,
                               Decision.scientific(s.fingerprintLog10PValue), s.fingerprintVerdict))
            Swift.print("  verdict: \(s.verdict.uppercased())  (the paper's 30 % rule: \(s.paperVerdict))  report \(s.verified ? "verified" : "NOT verified") → \(s.report)")
        }
        Swift.print("keys and vault are TEST-ONLY (passphrase \"\(passphrase)\")")
    }
}
