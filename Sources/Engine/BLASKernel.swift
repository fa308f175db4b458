import CBLAS
import Dispatch
import Foundation

/// Which OpenBLAS kernels run, and a fix for processors Debian's OpenBLAS does not know.
///
/// OpenBLAS 0.3.21 (Debian 12) picks its kernels from the CPU model when the library loads. On
/// processors newer than it knows (the Xeons of this project's machines report family 6 model
/// 207) it falls back to the SSE3 "Prescott" kernels, which run GEMM 5–8× slower than the
/// AVX-512 ones the CPU supports. OpenBLAS reads `OPENBLAS_CORETYPE` only at load time, so
/// `StartupEnvironment` re-executes the command line once with it set.
public enum BLASKernel {
    /// The kernel family OpenBLAS chose, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The best kernel family for these CPU feature flags (from /proc/cpuinfo), or nil to keep
    /// OpenBLAS's own choice.
    static func preferredCoreType(flags: Set<Substring>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The kernel family to ask OpenBLAS for, when it fell back to Prescott on a CPU with AVX2
    /// or AVX-512 (nil: its own choice is right).
    static var neededCoreType: String? {
        guard coreName.lowercased() == "prescott",
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return preferredCoreType(flags: Set(flagsLine.split(separator: " ")))
    }

    /// Best-of-`repeats` GFLOPS of an n×n×n `cblas_sgemm` with OpenBLAS's own threading over
    /// `threads` threads (the engine's reference peak; training calls GEMM one thread per worker).
    public static func measureGEMM(size n: Int, threads: Int, repeats: Int) -> Double {
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        openblas_set_num_threads(Int32(threads))
        defer { openblas_set_num_threads(1) }
        var best = Double.infinity
        for attempt in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if attempt > 0 { best = Swift.min(best, seconds) }  // the first call warms up buffers
        }
        return 2 * pow(Double(n), 3) / best / 1e9
    }
}
