import Foundation

/// Runs registration work — decoding weights, making and sealing a trigger set, about 0.5 GB for
/// 20,000 triggers — on a few threads of its own, one registration per thread at a time, so
/// registrations at once cannot add up their memory. Threads of their own, not whichever
/// thread is free: glibc gives each thread a malloc arena that keeps what it freed, and four
/// registrations one after another on four threads peaked at 681 MB where one takes 552 MB.
final class RegistrationWorkers: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [() -> Void] = []

    init(count: Int) {
        for _ in 0..<count { Thread.detachNewThread { self.work() } }
    }

    func run<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.withLock {
                pending.append { continuation.resume(with: Result { try body() }) }
                condition.signal()
            }
        }
    }

    private func work() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let next = pending.removeFirst()
            condition.unlock()
            next()
        }
    }
}
