import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Names the investigations that were running when the process died of a fatal signal — a bad
/// memory access, a Swift runtime trap, an abort — in a file in the service directory, so the
/// next start can fail them instead of resuming them into the same crash forever. A process
/// stopped or killed (SIGTERM, SIGKILL) leaves no marker: its jobs resume.
///
/// A signal handler may call only async-signal-safe functions, so the names are formatted
/// beforehand, whenever the running jobs change, into one of two buffers (a crash while the
/// other is being written finds a whole list); the handler `write`s the current one, then lets
/// the process die of the signal.
final class CrashMarker: @unchecked Sendable {
    static let fileName = "crashed-investigations"
    static let signals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE]
    /// Room for the names of 500 running investigations; more are left out (and caught by the
    /// runner's count of starts instead).
    static let capacity = 16 << 10

    /// Guards the handler's state, which is the process's.
    private static let lock = NSLock()
    let url: URL

    init(directory: URL) {
        url = directory.appendingPathComponent(Self.fileName)
    }

    /// The investigations the last crash named, empty when the process was not crashed. The
    /// marker stays until `clear`, so a start that dies before acting on it reads it again.
    func crashedInvestigations() -> [String] {
        guard let contents = FileManager.default.contents(atPath: url.path) else { return [] }
        return String(decoding: contents, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func clear() throws {
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }

    /// Installs the handler for the fatal signals, naming this marker's file. One service per
    /// process: a second one's marker replaces the first's.
    func install() {
        Self.lock.withLock {
            let state = fatalSignalState ?? Self.allocateState()
            free(state.pointee.path)
            state.pointee.path = strdup(url.path)
            state.pointee.lengths = (0, 0)
            if fatalSignalState == nil {
                fatalSignalState = state
                for signal in Self.signals {
                    var action = sigaction()
                    action.__sigaction_handler.sa_sigaction = recordFatalSignal
                    action.sa_flags = SA_SIGINFO | SA_ONSTACK
                    sigemptyset(&action.sa_mask)
                    sigaction(signal, &action, state.pointee.previousActions + Int(signal))
                }
            }
        }
    }

    /// Formats the names of the investigations running now for the handler.
    func update(running ids: [String]) {
        Self.lock.withLock {
            guard let state = fatalSignalState else { return }
            let next = 1 - state.pointee.current
            let buffer = state.pointee.buffers + next * Self.capacity
            var length = 0
            for id in ids {
                let line = Array((id + "\n").utf8)
                guard length + line.count <= Self.capacity else { break }
                (buffer + length).update(from: line, count: line.count)
                length += line.count
            }
            if next == 0 { state.pointee.lengths.0 = length } else { state.pointee.lengths.1 = length }
            state.pointee.current = next
        }
    }

    private static func allocateState() -> UnsafeMutablePointer<FatalSignalState> {
        let state = UnsafeMutablePointer<FatalSignalState>.allocate(capacity: 1)
        let slots = Int(signals.max()!) + 1
        let actions = UnsafeMutablePointer<sigaction>.allocate(capacity: slots)
        actions.initialize(repeating: sigaction(), count: slots)
        state.initialize(to: FatalSignalState(path: nil, buffers: .allocate(capacity: 2 * capacity), lengths: (0, 0), current: 0,
                                              previousActions: actions))
        return state
    }
}

/// What the handler reads: allocated once, before the handler is installed, and never freed.
private struct FatalSignalState {
    var path: UnsafeMutablePointer<CChar>?
    /// Two buffers of `CrashMarker.capacity` bytes; `current` says which one holds the names.
    var buffers: UnsafeMutablePointer<UInt8>
    var lengths: (Int, Int)
    var current: Int
    /// Indexed by signal number (of `CrashMarker.signals`).
    var previousActions: UnsafeMutablePointer<sigaction>
}

nonisolated(unsafe) private var fatalSignalState: UnsafeMutablePointer<FatalSignalState>? = nil

private func recordFatalSignal(_ number: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    guard let state = fatalSignalState else { return }
    let current = state.pointee.current
    let length = current == 0 ? state.pointee.lengths.0 : state.pointee.lengths.1
    if length > 0, let path = state.pointee.path {
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if file >= 0 {
            _ = write(file, state.pointee.buffers + current * CrashMarker.capacity, length)
            close(file)
        }
    }
    if (info?.pointee.si_code ?? 0) > 0 {
        // A fault: returning runs the faulting instruction again, which faults under the action
        // from before (Swift's backtracer prints the stack, then the process dies).
        sigaction(number, state.pointee.previousActions + Int(number), nil)
    } else {
        // Sent by kill, raise or abort: raised again under the default action, since the
        // backtracer lets a process live on after a signal it was only sent.
        var defaultAction = sigaction()
        sigaction(number, &defaultAction, nil)
        raise(number)
    }
}
