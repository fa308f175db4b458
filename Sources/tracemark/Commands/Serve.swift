import ArgumentParser
import Engine
import Foundation
import Server

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP with the Open Inference Protocol v2 (KServe/Triton).",
        discussion: """
        Routes: GET /v2/health/live, /v2/health/ready, /v2/models/NAME/ready, GET /v2/models/NAME \
        (metadata), POST /v2/models/NAME/infer with one FP32 input of shape [B, C, H, W] (or \
        [B, C·H·W]), raw pixels in [0, 1]; the model's own normalisation is applied. --output \
        decides what the answer reveals: probabilities (an FP32 [B, classes] output named \
        'probabilities'), topk:K ('topk_labels' and 'topk_probabilities'), or label (INT64 'label'). \
        Errors are JSON {"error": …} with a 4xx status. With --port 0 a free port is chosen; the \
        line 'listening on http://HOST:PORT' on standard output names it. --input-noise σ makes a \
        suspect that perturbs its inputs: every pixel gets Gaussian noise of standard deviation σ \
        (on [0, 1] pixels, clipped to [0, 1]) before the model sees it, drawn afresh for every \
        request from --noise-seed.
        """
    )

    @Option(help: "The checkpoint (.safetensors) to serve.")
    var model: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port: Int

    @Option(help: "The model's name in the API paths (default: the checkpoint's file name without extension).")
    var name: String?

    @Option(help: "What each answer reveals: probabilities, topk:K, label.")
    var output = "probabilities"

    @Option(help: "Largest request body accepted, in bytes.")
    var maxBodyBytes = 16 << 20

    @Option(help: "Standard deviation σ (0–1, on [0, 1] pixels) of Gaussian noise added to every input before the model sees it; 0: none.")
    var inputNoise: Float = 0

    @Option(help: "Seed of the input noise.")
    var noiseSeed: UInt64 = 1

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard ServedOutput(output) != nil else { throw ValidationError("--output must be probabilities, topk:K or label") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        guard inputNoise >= 0 && inputNoise <= 1 else { throw ValidationError("--input-noise must lie in [0, 1]") }
    }

    func run() throws {
        engine.apply()
        let classifier = try Checkpoint.load(model)
        let served = name ?? URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let server = ModelServer(classifier: classifier, name: served, output: ServedOutput(output)!, maximumBodyBytes: maxBodyBytes,
                                 inputNoise: inputNoise, noiseSeed: noiseSeed)
        let host = self.host
        let noise = inputNoise > 0 ? ", input noise σ \(inputNoise)" : ""
        let application = server.application(host: host, port: port) { port in
            print("listening on http://\(host):\(port) (model '\(served)', output \(server.output)\(noise))")
            fflush(stdout)
        }
        // The command tree is synchronous; the server runs on Swift concurrency until it stops.
        try runUntilDone { try await application.runService() }
    }
}

/// Runs async work from a synchronous command and waits for it, rethrowing its error.
func runUntilDone(_ work: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: Error? }
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await work() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
