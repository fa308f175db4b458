import Engine
import Foundation

/// Progress of a running probe.
public struct ProbeProgress: Sendable {
    public var done: Int
    public var total: Int
    public var retries: Int
    public var failed: Int
    public var queriesPerSecond: Double
    public var secondsRemaining: Double
}

public struct ProbeOptions: Sendable {
    public var concurrency = 4
    public var rateLimit: Double?
    public var retry = RetryPolicy()

    public init(target: Target) {
        concurrency = target.concurrency ?? 4
        rateLimit = target.rateLimit
        if let attempts = target.maxAttempts { retry.maxAttempts = attempts }
        if let backoff = target.backoffMs { retry.base = Double(backoff) / 1000 }
        if let maximum = target.maxBackoffMs { retry.maximum = Double(maximum) / 1000 }
    }
}

/// Sends a plan's queries through an adapter with a pool of libcurl handles (one per worker
/// thread), a shared rate limit and retries, writing each query's final outcome to the
/// transcript once per run. Queries the transcript holds answered are not sent again; failed ones
/// are (their new record replaces the failure), and so is a query in flight when a run was
/// stopped, which has no record yet.
public final class Prober: @unchecked Sendable {
    let adapter: ProbeAdapter
    let settings: TransportSettings
    let options: ProbeOptions

    public init(adapter: ProbeAdapter, settings: TransportSettings, options: ProbeOptions) {
        self.adapter = adapter
        self.settings = settings
        self.options = options
    }

    /// `stopWhen` sees each written record in turn; once it answers true no further query is
    /// sent (those in flight still finish), and a later run resumes with the rest of the plan.
    /// Once `isCancelled` answers true no query is sent and no attempt retried.
    public func run(_ plan: QueryPlan, transcript: TranscriptWriter, stopWhen: ((TranscriptRecord) -> Bool)? = nil,
                    isCancelled: @escaping @Sendable () -> Bool = { false },
                    progress: @escaping @Sendable (ProbeProgress) -> Void = { _ in }) throws {
        let pending = plan.queries.filter { !transcript.answered.contains($0.id) }
        let run = Run(pending: pending, alreadyDone: plan.queries.count - pending.count, stopWhen: stopWhen, isCancelled: isCancelled)
        let limiter = RateLimiter(perSecond: options.rateLimit)
        DispatchQueue.concurrentPerform(iterations: max(1, min(options.concurrency, pending.count))) { worker in
            let session: CurlSession
            do { session = try CurlSession(settings: settings) } catch { run.fail(error); return }
            var jitter = SeededGenerator(seed: plan.seed ^ UInt64(worker + 1) &* 0x9E37_79B9)
            while let query = run.next() {
                let record = send(query, session: session, limiter: limiter, jitter: &jitter, isCancelled: isCancelled)
                do { try transcript.append(record) } catch { run.fail(error); return }
                run.finished(record, progress: progress)
            }
        }
        try transcript.synchronize()
        if let error = run.firstError { throw error }
    }

    /// One run's shared state: the next query to hand out, counts for progress, the first error.
    private final class Run: @unchecked Sendable {
        let pending: [PlannedQuery]
        let alreadyDone: Int
        let stopWhen: ((TranscriptRecord) -> Bool)?
        let isCancelled: () -> Bool
        let started = Date()
        private let lock = NSLock()
        private var nextIndex = 0, done = 0, retries = 0, failed = 0
        private var stopped = false
        private(set) var firstError: Error?

        init(pending: [PlannedQuery], alreadyDone: Int, stopWhen: ((TranscriptRecord) -> Bool)?, isCancelled: @escaping () -> Bool) {
            self.pending = pending
            self.alreadyDone = alreadyDone
            self.stopWhen = stopWhen
            self.isCancelled = isCancelled
        }

        /// The next query, or nil when all are handed out, the run failed, was told to stop or cancelled.
        func next() -> PlannedQuery? {
            lock.lock(); defer { lock.unlock() }
            guard firstError == nil, !stopped, !isCancelled(), nextIndex < pending.count else { return nil }
            nextIndex += 1
            return pending[nextIndex - 1]
        }

        func fail(_ error: Error) {
            lock.lock(); defer { lock.unlock() }
            if firstError == nil { firstError = error }
        }

        /// Counts a written record and reports progress, under the lock so lines never interleave.
        func finished(_ record: TranscriptRecord, progress: (ProbeProgress) -> Void) {
            lock.lock(); defer { lock.unlock() }
            done += 1
            retries += record.attempts - 1
            if record.status == .failed { failed += 1 }
            if let stopWhen, !stopped, stopWhen(record) { stopped = true }
            let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
            progress(ProbeProgress(done: alreadyDone + done, total: alreadyDone + pending.count, retries: retries, failed: failed,
                                   queriesPerSecond: rate, secondsRemaining: Double(pending.count - done) / max(rate, 1e-6)))
        }
    }

    /// One query to its final outcome: answered, or failed after the last allowed attempt (or at
    /// once on a client error other than 429, which retrying cannot fix).
    func send(_ query: PlannedQuery, session: CurlSession, limiter: RateLimiter, jitter: inout SeededGenerator,
              isCancelled: @escaping () -> Bool = { false }) -> TranscriptRecord {
        let started = Date()
        var outcome = TranscriptRecord(queryId: query.id, kind: query.kind, inputSha256: query.inputDigest, expectedLabel: query.expectedLabel, status: .failed,
                                       attempts: 0, started: Self.timestamp(started), seconds: 0)
        let request: OutgoingRequest
        do { request = try adapter.request(for: query.image, queryID: query.id) } catch {
            outcome.error = "cannot build the request: \(error)"
            return outcome
        }
        while outcome.attempts < options.retry.maxAttempts {
            limiter.wait(unless: isCancelled)
            // Waiting for a rate-limit slot or a retry can take long; a probe cancelled meanwhile sends nothing more.
            if isCancelled() {
                outcome.error = outcome.error ?? "cancelled before it was sent"
                break
            }
            outcome.attempts += 1
            let exchange = session.perform(request, isCancelled: isCancelled)
            outcome.httpStatus = exchange.status
            outcome.responseSha256 = exchange.failure == nil ? sha256Hex(exchange.body) : nil
            var retryable = true
            switch (exchange.failure, exchange.status) {
            case (.transport(let reason)?, _): outcome.error = "transport: \(reason)"
            case (.oversized(let limit)?, _): outcome.error = "response larger than \(limit) bytes"
            case (nil, let status?) where (200..<300).contains(status):
                do {
                    let answer = try adapter.answer(from: exchange.body)
                    outcome.status = .answered
                    outcome.label = answer.label
                    outcome.probabilities = answer.probabilities
                    outcome.error = nil
                    outcome.seconds = Date().timeIntervalSince(started)
                    return outcome
                } catch {
                    outcome.error = "\(error)"
                }
            case (nil, let status):
                outcome.error = "HTTP \(status.map(String.init) ?? "?")" + Self.serverText(exchange.body)
                retryable = status == 429 || (status ?? 500) >= 500
            }
            guard retryable, outcome.attempts < options.retry.maxAttempts else { break }
            let wait = options.retry.delay(after: outcome.attempts, retryAfter: exchange.retryAfter, jitter: jitter.nextUnit())
            RateLimiter.sleep(wait, unless: isCancelled)
        }
        outcome.seconds = Date().timeIntervalSince(started)
        return outcome
    }

    /// The start of an error response's body, so the transcript and the probe's complaint say
    /// what the server said: at most 300 characters, control characters as spaces.
    static func serverText(_ body: Data) -> String {
        let text = String(decoding: body.prefix(1200), as: UTF8.self)
            .unicodeScalars.map { $0.isControlCharacter ? " " : Character($0) }
        let trimmed = String(text.prefix(300)).trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? "" : ": " + trimmed
    }

    /// RFC 3339 UTC with milliseconds (`2026-11-28T18:20:01.123Z`), formatted by hand: a
    /// Foundation date formatter per record cost a fifth of the probe's CPU time.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }
}

private extension SeededGenerator {
    mutating func nextUnit() -> Double { Double(nextUnitFloat()) }
}
