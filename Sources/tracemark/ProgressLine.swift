import Foundation
import Training

/// A live progress line on a terminal (rewritten in place); plain lines, about ten per epoch,
/// when standard error is a file or a pipe.
final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPlainStep = -1

    func show(_ p: TrainingProgress) {
        var line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  lr %.4f  %.0f img/s  ETA %@",
                          p.epoch, p.epochs, p.step, p.stepsPerEpoch, p.loss, 100 * p.accuracy, p.learningRate,
                          p.imagesPerSecond, Self.duration(p.secondsRemaining))
        if let test = p.testAccuracy { line += String(format: "  test %.2f%%", 100 * test) }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (p.epochFinished ? "\n" : "")).utf8))
            return
        }
        let tenth = max(p.stepsPerEpoch / 10, 1)
        if p.epochFinished || (p.step % tenth == 0 && p.step != lastPlainStep) {
            lastPlainStep = p.step
            printStatus(line)
        }
    }

    /// A free-form progress line for work that is not an epoch loop; `finished` ends it. Off a
    /// terminal, lines are printed when `step` is a multiple of `every`, and at the end.
    func show(stage line: String, finished: Bool, every: Int = .max, step: Int = 0) {
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (finished ? "\n" : "")).utf8))
        } else if finished || (step % every == 0 && step != lastPlainStep) {
            lastPlainStep = step
            printStatus(line)
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
