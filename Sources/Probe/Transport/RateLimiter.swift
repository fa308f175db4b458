import Foundation

/// Spaces requests at most `perSecond` apart across all workers: each caller reserves the next
/// free slot and sleeps until it.
final class RateLimiter: @unchecked Sendable {
    /// Sleeps `seconds` in slices, returning early once `isCancelled` answers true: a booked
    /// slot or a backoff can be minutes away, and a cancelled probe must not wait them out.
    static func sleep(_ seconds: Double, unless isCancelled: () -> Bool) {
        let end = Date().addingTimeInterval(seconds)
        while !isCancelled() {
            let left = end.timeIntervalSinceNow
            guard left > 0 else { return }
            Thread.sleep(forTimeInterval: min(left, 0.25))
        }
    }

    private let interval: Double
    private var nextSlot = Date.distantPast
    private let lock = NSLock()

    init(perSecond: Double?) { interval = perSecond.map { 1 / $0 } ?? 0 }

    func wait(unless isCancelled: () -> Bool = { false }) {
        guard interval > 0 else { return }
        lock.lock()
        let now = Date()
        let slot = max(now, nextSlot)
        nextSlot = slot.addingTimeInterval(interval)
        lock.unlock()
        let delay = slot.timeIntervalSince(now)
        if delay > 0 { Self.sleep(delay, unless: isCancelled) }
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
