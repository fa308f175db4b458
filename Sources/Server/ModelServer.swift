import Engine
import Foundation
import Hummingbird
import NIOCore

/// What the served model reveals per image: the probability vector, the top K labels with
/// their probabilities, or the top-1 label only (what a careful API owner exposes).
public enum ServedOutput: Equatable, Sendable {
    case probabilities
    case topK(Int)
    case label

    public init?(_ text: String) {
        switch text {
        case "probabilities": self = .probabilities
        case "label": self = .label
        default:
            guard text.hasPrefix("topk:"), let k = Int(text.dropFirst(5)), k >= 1 else { return nil }
            self = .topK(k)
        }
    }
}

/// Runs one classifier for many concurrent requests: the layers reuse their buffers, so calls
/// go through this actor one at a time. With `inputNoise` σ > 0 every pixel first gets Gaussian
/// noise of that standard deviation (clipped to [0, 1]), fresh for every request.
actor InferenceWorker {
    let classifier: Classifier
    let inputNoise: Float
    private var rng: SeededGenerator

    init(classifier: Classifier, inputNoise: Float, seed: UInt64) {
        self.classifier = classifier
        self.inputNoise = inputNoise
        rng = SeededGenerator(seed: seed)
    }

    func probabilities(_ images: [Float]) -> [Float] {
        var images = images
        if inputNoise > 0 { rng.addGaussianNoise(sigma: inputNoise, toPixels: &images) }
        return images.withUnsafeBufferPointer { classifier.probabilities($0).values }
    }
}

/// A model server speaking the Open Inference Protocol v2 over HTTP/1.1 (Hummingbird):
/// health, model metadata and batched inference with JSON tensors, JSON errors, a body limit.
public struct ModelServer: Sendable {
    public var name: String
    public var output: ServedOutput
    public var maximumBodyBytes: Int
    /// Standard deviation of the Gaussian noise added to every input pixel; 0 answers the images as sent.
    public let inputNoise: Float
    let worker: InferenceWorker
    let itemShape: [Int]
    let classCount: Int

    public init(classifier: Classifier, name: String, output: ServedOutput, maximumBodyBytes: Int = 16 << 20,
                inputNoise: Float = 0, noiseSeed: UInt64 = 1) {
        precondition(inputNoise >= 0 && inputNoise <= 1, "input noise σ lies in [0, 1]")
        self.name = name
        self.output = output
        self.maximumBodyBytes = maximumBodyBytes
        self.inputNoise = inputNoise
        worker = InferenceWorker(classifier: classifier, inputNoise: inputNoise, seed: noiseSeed)
        itemShape = classifier.card.inputShape
        classCount = classifier.classCount
    }

    public func application(host: String, port: Int,
                            onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.get("/v2/health/live") { _, _ in Response(status: .ok) }
        router.get("/v2/health/ready") { _, _ in Response(status: .ok) }
        router.get("/v2/models/{name}/ready") { _, context in
            try checkName(context)
            return Response(status: .ok)
        }
        router.get("/v2/models/{name}") { _, context in
            try checkName(context)
            return try jsonResponse(metadata)
        }
        router.post("/v2/models/{name}/infer") { request, context in
            try checkName(context)
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: maximumBodyBytes) } catch {
                throw APIError(.contentTooLarge, "request body too large (limit \(maximumBodyBytes) bytes)")
            }
            let decoded: InferenceProtocol.InferRequest
            do {
                decoded = try JSONDecoder().decode(InferenceProtocol.InferRequest.self, from: Data(buffer: body))
            } catch {
                throw APIError(.badRequest, "malformed inference request: \(describeDecodingError(error))")
            }
            let images = try images(from: decoded)
            let probabilities = await worker.probabilities(images)
            // Finite inputs far outside [0, 1] can still overflow inside the network.
            guard probabilities.allSatisfy(\.isFinite) else {
                throw APIError(.unprocessableContent, "the model's output for these inputs is not finite; send pixels in [0, 1]")
            }
            return try jsonResponse(InferenceProtocol.InferResponse(modelName: name, id: decoded.id,
                                                                    outputs: outputs(probabilities, batch: images.count / itemShape.reduce(1, *))))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tracemark"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) })
    }

    private func checkName(_ context: some RequestContext) throws {
        let requested = try context.parameters.require("name")
        guard requested == name else { throw APIError(.notFound, "no model named '\(requested)' (this server has '\(name)')") }
    }

    var metadata: InferenceProtocol.ModelMetadata {
        let outputs: [InferenceProtocol.TensorMetadata]
        switch output {
        case .probabilities: outputs = [.init(name: "probabilities", datatype: "FP32", shape: [-1, classCount])]
        case .topK(let k): outputs = [.init(name: "topk_labels", datatype: "INT64", shape: [-1, k]),
                                      .init(name: "topk_probabilities", datatype: "FP32", shape: [-1, k])]
        case .label: outputs = [.init(name: "label", datatype: "INT64", shape: [-1])]
        }
        return .init(name: name, versions: ["1"], platform: "tracemark", inputs: [.init(name: "images", datatype: "FP32", shape: [-1] + itemShape)],
                     outputs: outputs)
    }

    /// The batch as raw pixels: the request's one input shaped (B, C, H, W), (B, C·H·W) or
    /// (C, H, W), whose values `InferRequest` counted.
    func images(from request: InferenceProtocol.InferRequest) throws -> [Float] {
        let input = request.inputs[0]
        let item = itemShape.reduce(1, *)
        let shapeFits = input.shape == itemShape || (input.shape.count >= 2
            && (Array(input.shape.dropFirst()) == itemShape || input.shape.dropFirst().elementsEqual([item])))
        guard shapeFits else {
            throw APIError(.badRequest, "input shape \(input.shape) does not fit items of shape \(itemShape) (send [B, \(itemShape.map(String.init).joined(separator: ", "))])")
        }
        guard input.data.values.count / item <= 1024 else { throw APIError(.badRequest, "at most 1024 images per request") }
        return input.data.values.map(Float.init)
    }

    func outputs(_ probabilities: [Float], batch: Int) -> [InferenceProtocol.Tensor] {
        let classes = classCount
        let rows = (0..<batch).map { Array(probabilities[$0 * classes..<($0 + 1) * classes]) }
        switch output {
        case .probabilities:
            return [.init(name: "probabilities", shape: [batch, classes], datatype: "FP32", data: probabilities.map(Double.init))]
        case .label:
            return [.init(name: "label", shape: [batch], datatype: "INT64", data: rows.map { Double(argmax($0)) })]
        case .topK(let k):
            let k = min(k, classes)
            let ranked = rows.map { row in row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k) }
            return [.init(name: "topk_labels", shape: [batch, k], datatype: "INT64", data: ranked.flatMap { $0.map(Double.init) }),
                    .init(name: "topk_probabilities", shape: [batch, k], datatype: "FP32",
                          data: zip(rows, ranked).flatMap { row, top in top.map { Double(row[$0]) } })]
        }
    }
}

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder().encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// An error answered as `{"error": message}` with its status.
public struct APIError: Error, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try jsonResponse(["error": message], status: status)
    }
}

/// Turns Hummingbird's own errors (unknown route, body too large) into the same JSON shape.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw APIError(error.status, error.body ?? error.status.reasonPhrase)
        } catch {
            // Anything else is the server's fault; it still answers JSON, and says no more.
            throw APIError(.internalServerError, "internal error")
        }
    }
}
