import ArgumentParser
import Engine

struct EngineInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Show which libraries and kernels run (oneDNN for convolutions, batch norm and pooling; OpenBLAS for the rest) and measure GEMM speed."
    )

    @Option(help: "Size n of the n×n×n product to time.")
    var size = 1024

    @Option(help: "Timed repetitions (the best one counts).")
    var repeats = 5

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard (16...8192).contains(size) else { throw ValidationError("--size must be between 16 and 8192") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        engine.apply()
        let single = BLASKernel.measureGEMM(size: size, threads: 1, repeats: repeats)
        let all = BLASKernel.measureGEMM(size: size, threads: engine.threads, repeats: repeats)
        let library = KernelLibrary.selected
        let report = EngineReport(openblasCore: BLASKernel.coreName, threads: engine.threads, gemmSize: size,
                                  sgemmGflopsOneThread: single, sgemmGflops: all, kernelLibrary: library.rawValue,
                                  onednnVersion: OneDNN.isAvailable ? OneDNN.version : nil,
                                  onednnInstructionSet: OneDNN.isAvailable ? OneDNN.instructionSet : nil,
                                  onednnConvolutionKernels: library == .oneDNN ? OneDNN.sampleConvolutionKernels(precision: engine.precision) : nil,
                                  precision: engine.precision.rawValue, bf16Native: Precision.bf16IsNative)
        if json {
            try printJSON(report)
        } else {
            print("convolutions, batch norm, pooling: \(library.rawValue)" + (report.onednnConvolutionKernels.map { " (kernels \($0.joined(separator: ", ")))" } ?? ""))
            if let version = report.onednnVersion, let isa = report.onednnInstructionSet {
                print("oneDNN \(version), \(isa); convolutions in \(report.precision) (BF16 \(report.bf16Native ? "native" : "not native here"))")
            } else {
                print("oneDNN: not found (libdnnl.so.2, Debian's libdnnl2): the engine's own kernels run")
            }
            print("OpenBLAS kernels: \(report.openblasCore)")
            print("sgemm \(size)³: \(Int(single.rounded())) GFLOPS on 1 thread, \(Int(all.rounded())) GFLOPS on \(engine.threads)")
        }
    }
}

struct EngineReport: Encodable {
    var openblasCore: String
    var threads: Int
    var gemmSize: Int
    var sgemmGflopsOneThread: Double
    var sgemmGflops: Double
    var kernelLibrary: String
    var onednnVersion: String?
    var onednnInstructionSet: String?
    /// oneDNN's kernels for fmnist-cnn's second convolution (forward, backward data, backward weights).
    var onednnConvolutionKernels: [String]?
    var precision: String
    var bf16Native: Bool
}
