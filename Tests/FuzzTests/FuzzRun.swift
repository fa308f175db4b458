import Foundation
import XCTest

/// One fuzz case's loop: mutate a seed input, hand it to the code under test, and require a
/// thrown error that says something, or a result that passes the case's own checks. A trap or
/// a signal ends the whole test process, which fails the run: the last input is on disk
/// (`TRACEMARK_FUZZ_DIR`, else the temporary folder) to replay it.
///
/// `TRACEMARK_FUZZ_SECONDS` (default 8: the eleven cases stay under CI's two minutes) bounds
/// each case's time and `TRACEMARK_FUZZ_SEED` (default 1) fixes the inputs; CI runs the
/// defaults, a long run raises the first.
struct FuzzRun {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds = Double(environment["TRACEMARK_FUZZ_SECONDS"] ?? "") ?? 8
    static let seed = UInt64(environment["TRACEMARK_FUZZ_SEED"] ?? "") ?? 1
    static let folder = URL(fileURLWithPath: environment["TRACEMARK_FUZZ_DIR"] ?? NSTemporaryDirectory())

    struct Tally: CustomStringConvertible {
        var inputs = 0
        var accepted = 0
        var rejected = 0
        var description: String { "\(inputs) inputs, \(accepted) accepted, \(rejected) rejected with an error" }
    }

    /// Runs `body` on mutations of `seeds` for the configured time; `body` throws for input it
    /// refuses and calls `XCTFail` (through its own checks) for a result that is wrong.
    /// `expectsAcceptance` is false only where nearly every change must be refused (a signed file).
    @discardableResult
    static func run(_ name: String, seeds: [Data], expectsAcceptance: Bool = true, file: StaticString = #filePath, line: UInt = #line,
                    _ body: (Data) throws -> Void) -> Tally {
        precondition(!seeds.isEmpty, "a fuzz case needs at least one seed input")
        var mutator = Mutator(seed: seed ^ UInt64(truncatingIfNeeded: name.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }))
        let lastInput = folder.appendingPathComponent("tracemark-fuzz-\(name)-last.bin")
        var tally = Tally()
        let deadline = Date().addingTimeInterval(seconds)
        // The unmutated seeds first: each must be accepted, or the case tests nothing.
        for input in seeds {
            do { try body(input) } catch { XCTFail("\(name): a seed input is refused: \(error)", file: file, line: line) }
        }
        repeat {
            for _ in 0..<16 {
                var input = seeds[mutator.next(seeds.count)]
                input = mutator.mutate(input)
                if mutator.next(8) == 0 { input = mutator.mutate(input) }
                try? input.write(to: lastInput)
                tally.inputs += 1
                do {
                    try body(input)
                    tally.accepted += 1
                } catch {
                    tally.rejected += 1
                    let message = "\(error)"
                    if message.isEmpty || message.count > 20_000 {
                        XCTFail("\(name): an error without a usable message (\(message.count) characters) for input \(lastInput.path)",
                                file: file, line: line)
                        return tally
                    }
                }
            }
        } while Date() < deadline
        try? FileManager.default.removeItem(at: lastInput)
        print("fuzz \(name): \(tally) in \(seconds) s (seed \(seed))")
        if expectsAcceptance {
            XCTAssertGreaterThan(tally.accepted, 0, "\(name): no mutated input was accepted; the mutations only test the parser's front door",
                                 file: file, line: line)
        }
        return tally
    }
}
