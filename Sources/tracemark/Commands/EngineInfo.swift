import ArgumentParser
import Engine

struct EngineInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Show which OpenBLAS kernels run and measure their single-precision GEMM speed."
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
        let single = BLASKernel.measureGEMM(size: size, threads: 1, repeats: repeats)
        let all = BLASKernel.measureGEMM(size: size, threads: engine.threads, repeats: repeats)
        let report = EngineReport(openblasCore: BLASKernel.coreName, threads: engine.threads, gemmSize: size,
                                  sgemmGflopsOneThread: single, sgemmGflops: all)
        if json {
            try printJSON(report)
        } else {
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
}
