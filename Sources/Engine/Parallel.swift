import Dispatch
import CBLAS

/// How the engine spreads work over cores.
///
/// The engine splits a batch into one fixed chunk per worker and gives each worker
/// single-threaded BLAS calls, instead of letting OpenBLAS thread each small GEMM: per-image
/// convolution GEMMs are too small to thread well, and a fixed split keeps results bit-identical
/// from run to run (same seed, same result).
public enum Parallel {
    public private(set) static var workers = 1

    /// Sets the number of worker threads (and pins OpenBLAS to one thread per call).
    public static func configure(workers requested: Int) {
        workers = Swift.max(1, requested)
        openblas_set_num_threads(1)
    }

    /// Calls `body(range, worker)` for `workers` contiguous chunks of `0..<count`, concurrently.
    public static func chunks(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        let parts = Swift.min(workers, count)
        if parts <= 1 {
            if count > 0 { body(0..<count, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = count * part / parts
            let end = count * (part + 1) / parts
            body(start..<end, part)
        }
    }
}
