import Data
import Engine
import Foundation
import Hummingbird
import Training
import Watermark
import XCTest
@testable import Probe
@testable import Server

/// `ModelServer` in process on a free port, spoken to with the probe's own libcurl session.
final class ModelServerTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 1) }

    /// Starts a server and returns its base URL; it stops when the test ends.
    func start(_ server: ModelServer) throws -> String {
        final class Port: @unchecked Sendable { var value: Int? }
        let port = Port(), ready = DispatchSemaphore(value: 0)
        let application = server.application(host: "127.0.0.1", port: 0) { bound in
            port.value = bound
            ready.signal()
        }
        let task = Task { try await application.runService() }
        addTeardownBlock { task.cancel() }
        XCTAssertEqual(ready.wait(timeout: .now() + 10), .success, "the server did not start")
        return "http://127.0.0.1:\(try XCTUnwrap(port.value))"
    }

    func post(_ base: String, _ path: String, _ body: Data, limit: Int = 1 << 20) throws -> Exchange {
        var settings = TransportSettings()
        settings.maximumResponseBytes = limit
        return try CurlSession(settings: settings).perform(OutgoingRequest(url: try RequestURL(base: base, path: path),
                                                                           headers: ["Content-Type: application/json"], body: body))
    }

    func get(_ base: String, _ path: String) throws -> Exchange {
        try CurlSession(settings: TransportSettings()).perform(OutgoingRequest(method: "GET", url: try RequestURL(base: base, path: path), headers: [], body: Data()))
    }

    func testInferenceMetadataErrorsAndTheBodyLimit() throws {
        let (_, testSet, model) = try ProberTests.fixture()
        let base = try start(ModelServer(classifier: model, name: "suspect", output: .probabilities, maximumBodyBytes: 64 << 10))
        XCTAssertEqual(try get(base, "/v2/health/ready").status, 200)
        let metadata = try get(base, "/v2/models/suspect")
        XCTAssertEqual(metadata.status, 200)
        XCTAssertTrue(String(decoding: metadata.body, as: UTF8.self).contains(#""shape":[-1,1,28,28]"#))

        // A batch of two images, nested data: the same probabilities as in process.
        let images = Array(testSet.images[0..<2 * 784])
        let nested = (0..<2).map { n in (0..<28).map { y in Array(images[n * 784 + y * 28..<n * 784 + y * 28 + 28]) } }
        let body = try JSONSerialization.data(withJSONObject: ["inputs": [["name": "images", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": nested]]])
        let answer = try post(base, "/v2/models/suspect/infer", body)
        XCTAssertEqual(answer.status, 200, String(decoding: answer.body, as: UTF8.self))
        let outputs = try XCTUnwrap((try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["outputs"] as? [[String: Any]])
        let served = try XCTUnwrap(outputs.first?["data"] as? [NSNumber]).map(\.floatValue)
        let expected = images.withUnsafeBufferPointer { model.probabilities($0).values }
        XCTAssertEqual(served, expected)

        func error(_ exchange: Exchange) -> String {
            (try? JSONSerialization.jsonObject(with: exchange.body) as? [String: String])?["error"] ?? ""
        }
        let unknown = try post(base, "/v2/models/other/infer", body)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertTrue(error(unknown).contains("no model named 'other'"))
        let malformed = try post(base, "/v2/models/suspect/infer", Data("{not json".utf8))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(error(malformed).contains("malformed"))
        let misshapen = try post(base, "/v2/models/suspect/infer", Data(#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#.utf8))
        XCTAssertEqual(misshapen.status, 400)
        XCTAssertTrue(error(misshapen).contains("does not fit"))
        let tooLarge = try post(base, "/v2/models/suspect/infer", Data(repeating: 0x20, count: 100 << 10))
        XCTAssertEqual(tooLarge.status, 413)
        XCTAssertTrue(error(tooLarge).hasPrefix("request body too large"), error(tooLarge))
        XCTAssertEqual(try get(base, "/v3/nothing").status, 404)
    }

    /// Issue 18: a shape of 2^62 × 784 overflowed the value count and trapped the server (no
    /// authentication needed); `3e39` (finite as a Double, not as a Float) answered 500 with an
    /// empty body. Every refusal is a 4xx with a JSON error.
    /// A suspect that perturbs its inputs: with σ > 0 the same image gets other answers from one
    /// request to the next; with σ = 0 the answers are the model's own, every time.
    func testInputNoiseVariesTheAnswersAndZeroNoiseChangesNothing() throws {
        let (_, testSet, model) = try ProberTests.fixture()
        let images = Array(testSet.images[0..<784])
        let body = try JSONSerialization.data(withJSONObject: ["inputs": [["name": "images", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": images]]])
        func answers(_ base: String) throws -> [Float] {
            let answer = try post(base, "/v2/models/suspect/infer", body)
            XCTAssertEqual(answer.status, 200, String(decoding: answer.body, as: UTF8.self))
            let outputs = try XCTUnwrap((try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["outputs"] as? [[String: Any]])
            return try XCTUnwrap(outputs.first?["data"] as? [NSNumber]).map(\.floatValue)
        }
        let exact = images.withUnsafeBufferPointer { model.probabilities($0).values }
        let quiet = try start(ModelServer(classifier: model, name: "suspect", output: .probabilities, inputNoise: 0))
        XCTAssertEqual(try answers(quiet), exact)
        XCTAssertEqual(try answers(quiet), exact)
        let noisy = try start(ModelServer(classifier: model, name: "suspect", output: .probabilities, inputNoise: 0.1, noiseSeed: 7))
        let first = try answers(noisy), second = try answers(noisy)
        XCTAssertNotEqual(first, exact)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(first.reduce(0, +), 1, accuracy: 1e-4)
    }

    func testHostileRequestsAreRefusedWithJSONErrors() throws {
        let (_, _, model) = try ProberTests.fixture()
        let base = try start(ModelServer(classifier: model, name: "m", output: .probabilities))
        func request(shape: String, data: String, datatype: String = "FP32") -> Data {
            Data(("{\"inputs\":[{\"name\":\"images\",\"shape\":" + shape + ",\"datatype\":\"" + datatype + "\",\"data\":" + data + "}]}").utf8)
        }
        let pixels = "[" + [String](repeating: "0.5", count: 784).joined(separator: ",") + "]"
        let hostile: [(String, Data)] = [
            ("shape", request(shape: "[4611686018427387904,784]", data: pixels)),
            ("shape", request(shape: "[4611686018427387904,1,28,28]", data: pixels)),
            ("shape", request(shape: "[-1,784]", data: pixels)),
            ("shape", request(shape: "[0,784]", data: "[]")),
            ("shape", request(shape: "[1,1,28,28,1]", data: pixels)),
            ("single-precision", request(shape: "[1,784]", data: "[3e39" + String(pixels.dropFirst(4)))),
            ("single-precision", request(shape: "[1,784]", data: "[-1e300" + String(pixels.dropFirst(4)))),
            ("finite", request(shape: "[1,784]", data: "[" + [String](repeating: "3e38", count: 784).joined(separator: ",") + "]")),
            ("1024", request(shape: "[1025,784]", data: "[" + [String](repeating: "0", count: 1025 * 784).joined(separator: ",") + "]")),
            ("datatype", request(shape: "[1,784]", data: pixels, datatype: "FP64")),
            ("values", request(shape: "[2,784]", data: pixels)),
        ]
        for (word, body) in hostile {
            let answer = try post(base, "/v2/models/m/infer", body, limit: 1 << 20)
            let text = String(decoding: answer.body, as: UTF8.self)
            XCTAssertTrue((400..<500).contains(answer.status ?? 0), "\(word): \(answer.status ?? 0) \(text)")
            let message = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: String])?["error"] ?? ""
            XCTAssertTrue(message.contains(word), "\(word): '\(text)'")
        }
        XCTAssertEqual(try get(base, "/v2/health/live").status, 200, "the server is still up")
        XCTAssertEqual(try post(base, "/v2/models/m/infer", request(shape: "[1,784]", data: pixels)).status, 200)
    }

    func testTopKAndLabelOutputsReadBackThroughTheAdapter() throws {
        let (spec, testSet, model) = try ProberTests.fixture()
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 5, controls: 5, decoys: 0), seed: 2)
        for output in [ServedOutput.topK(3), .label] {
            let base = try start(ModelServer(classifier: model, name: "m", output: output))
            let adapter = try makeAdapter(for: try Target(url: base, protocol: .openInferenceV2, model: "m"),
                                          context: ProbeContext(itemShape: plan.itemShape, classNames: plan.classNames, headers: []))
            for query in plan.queries {
                let exchange = try CurlSession(settings: TransportSettings()).perform(try adapter.request(for: query.image, queryID: query.id))
                let answer = try adapter.answer(from: exchange.body)
                XCTAssertEqual(answer.label, query.image.withUnsafeBufferPointer { Int(model.labels($0)[0]) }, "\(output)")
                XCTAssertNil(answer.probabilities)
            }
        }
    }

    func testAClientErrorIsFinalAfterOneAttempt() throws {
        let (spec, testSet, model) = try ProberTests.fixture()
        let base = try start(ModelServer(classifier: model, name: "suspect", output: .probabilities))
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 1, controls: 0, decoys: 0), seed: 1)
        let target = try Target(url: base, protocol: .openInferenceV2, model: "not-this-one", maxAttempts: 5)
        let record = try ProberTests.sendOnce(plan.queries[0], to: target, plan: plan)
        XCTAssertEqual(record.status, .failed)
        XCTAssertEqual(record.attempts, 1, "a 404 cannot be fixed by retrying")
        XCTAssertEqual(record.httpStatus, 404)
    }
}
