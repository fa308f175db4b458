import Engine
import Foundation
import Watermark

/// A model behind an Open Inference Protocol v2 endpoint, as a thief queries it: images go out
/// in batches as one FP32 tensor per request, probability vectors come back. A failed batch is
/// retried with backoff; one that keeps failing ends the extraction with the server's reason.
public final class RemoteModel: QueryableModel {
    public let itemShape: [Int]
    public let classNames: [String]
    public let batchSize: Int
    private let url: RequestURL
    private let session: CurlSession
    private let retry = RetryPolicy()

    /// `url` is the server's base URL, `model` the name in its paths.
    public init(url: String, model: String, itemShape: [Int], classNames: [String], batchSize: Int = 64,
                settings: TransportSettings = TransportSettings()) throws {
        try checkModelName(model)
        self.url = try RequestURL(base: url, path: OpenInferenceAdapter.path(model: model))
        self.itemShape = itemShape
        self.classNames = classNames
        self.batchSize = batchSize
        session = try CurlSession(settings: settings)
    }

    public func answer(_ images: UnsafeBufferPointer<Float>) throws -> Tensor {
        let size = itemShape.reduce(1, *), count = images.count / size, classes = classNames.count
        let answers = Tensor(shape: [count, classes])
        for start in stride(from: 0, to: count, by: batchSize) {
            let rows = min(batchSize, count - start)
            let batch = UnsafeBufferPointer(rebasing: images[(start * size)..<((start + rows) * size)])
            let probabilities = try send(batch, rows: rows)
            for (index, value) in probabilities.enumerated() { answers.data[start * classes + index] = Float(value) }
        }
        return answers
    }

    private func send(_ batch: UnsafeBufferPointer<Float>, rows: Int) throws -> [Double] {
        let request = OutgoingRequest(url: url, headers: ["Content-Type: application/json"],
                                      body: OpenInferenceAdapter.inferenceBody(batch.map(Double.init), shape: [rows] + itemShape, id: nil))
        var reason = ""
        for attempt in 1...retry.maxAttempts {
            let exchange = session.perform(request)
            if exchange.failure == nil, exchange.status == 200,
               let outputs = (try? parseJSON(exchange.body) as? [String: Any])?["outputs"] as? [[String: Any]],
               let output = outputs.first(where: { $0["name"] as? String == "probabilities" }),
               let values = (output["data"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.doubleValue }), values.count == rows * classNames.count {
                return values
            }
            reason = exchange.failure.map { "\($0)" } ?? "HTTP \(exchange.status.map(String.init) ?? "?"): \(String(decoding: exchange.body.prefix(200), as: UTF8.self))"
            if exchange.status == 200 { reason = "the answer holds no \(rows) × \(classNames.count) probabilities" }
            // As in the probe: a client error other than 429 will not change on a retry.
            let retryable = exchange.failure != nil || exchange.status == 429 || (exchange.status ?? 500) >= 500
            guard retryable, attempt < retry.maxAttempts else { break }
            Thread.sleep(forTimeInterval: retry.delay(after: attempt, retryAfter: exchange.retryAfter, jitter: 0.5))
        }
        throw ProbeError.transport("\(url.text): no probabilities for a batch of \(rows) images (\(reason))")
    }
}
