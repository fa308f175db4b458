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

    @Option(help: ArgumentHelp("The convolutions' arithmetic on oneDNN: fp32, or bf16 mixed precision (bfloat16 products, FP32 "
                               + "accumulation, weights and everything else; needs AVX-512 BF16 or AMX).", valueName: "precision"))
    var precision: Precision = .fp32

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        if kernels == .oneDNN && !OneDNN.isAvailable { throw ValidationError("--kernels onednn: oneDNN did not start on this machine") }
        if precision == .bf16 {
            guard (kernels ?? KernelLibrary.selected) == .oneDNN else { throw ValidationError("--precision bf16 needs the oneDNN kernels") }
            guard Precision.bf16IsNative else {
                throw ValidationError("--precision bf16: this CPU has no AVX-512 BF16 or AMX instructions (oneDNN: \(OneDNN.instructionSet))")
            }
        }
    }

    func apply() {
        Parallel.configure(workers: threads)
        if let kernels { KernelLibrary.selected = kernels }
        Precision.selected = precision
    }
}

extension KernelLibrary: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
