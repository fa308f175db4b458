import ArgumentParser
import Engine
import Foundation

/// Options every command that computes shares.
struct EngineOptions: ParsableArguments {
    @Option(help: "Worker threads for the engine (default: the number of cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("Which library runs convolutions, batch norm and pooling: onednn (the default when it starts) "
                               + "or openblas (the engine's own kernels over OpenBLAS, the fallback).", valueName: "library"))
    var kernels: KernelLibrary?

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        if kernels == .oneDNN && !OneDNN.isAvailable { throw ValidationError("--kernels onednn: oneDNN did not start on this machine") }
    }

    func apply() {
        Parallel.configure(workers: threads)
        if let kernels { KernelLibrary.selected = kernels }
    }
}

extension KernelLibrary: ExpressibleByArgument {}
