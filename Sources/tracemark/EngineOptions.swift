import ArgumentParser
import Engine
import Foundation

/// Options every command that computes shares.
struct EngineOptions: ParsableArguments {
    @Option(help: "Worker threads for the engine (default: the number of cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func apply() { Parallel.configure(workers: threads) }
}
