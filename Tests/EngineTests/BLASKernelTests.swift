import XCTest
@testable import Engine

final class BLASKernelTests: XCTestCase {
    func testPreferredKernelFollowsTheCPUFlags() {
        XCTAssertEqual(BLASKernel.preferredCoreType(flags: ["fma", "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl"]), "SkylakeX")
        XCTAssertEqual(BLASKernel.preferredCoreType(flags: ["fma", "avx2", "avx512f"]), "Haswell")
        XCTAssertNil(BLASKernel.preferredCoreType(flags: ["sse4_2", "avx"]))
    }

    func testGEMMMeasurementIsPositiveAndLeavesOneThread() {
        XCTAssertGreaterThan(BLASKernel.measureGEMM(size: 64, threads: 2, repeats: 2), 0)
        XCTAssertFalse(BLASKernel.coreName.isEmpty)
    }
}
