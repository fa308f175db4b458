import Foundation

/// Spaces requests at most `perSecond` apart across all workers: each caller reserves the next
/// free slot and sleeps until it.
final class RateLimiter: @unchecked Sendable {
    private let interval: Double
    private var nextSlot = Date.distantPast
    private let lock = NSLock()

    init(perSecond: Double?) { interval = perSecond.map { 1 / $0 } ?? 0 }

    func wait() {
        guard interval > 0 else { return }
        lock.lock()
        let now = Date()
        let slot = max(now, nextSlot)
        nextSlot = slot.addingTimeInterval(interval)
        lock.unlock()
        let delay = slot.timeIntervalSince(now)
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
    }
}

/// Exponential backoff with jitter; a server's `Retry-After` overrides it (up to `maximum`).
public struct RetryPolicy: Sendable {
    public var maxAttempts = 6
    public var base = 0.2
    public var maximum = 30.0

    public init(maxAttempts: Int = 6, base: Double = 0.2, maximum: Double = 30) {
        self.maxAttempts = maxAttempts
        self.base = base
        self.maximum = maximum
    }

    /// Seconds to wait before attempt `attempt + 1`, after `attempt` failed ones.
    func delay(after attempt: Int, retryAfter: Double?, jitter: Double) -> Double {
        if let retryAfter { return min(retryAfter, maximum) }
        return min(maximum, base * pow(2, Double(attempt - 1))) * (0.5 + jitter)
    }
}
