import Engine
import Foundation
import TestSupport

/// A deliberately unreliable Open Inference Protocol v2 server on a raw socket, so faults can
/// happen at the byte level: hangs past the client's timeout, 429 with Retry-After, 500 and 503,
/// malformed JSON, a body cut short of its Content-Length, an oversized body, a connection reset,
/// and slow but correct answers. Correct answers come from `classifier`.
final class FaultServer: @unchecked Sendable {
    enum Fault: CaseIterable { case hang, tooManyRequests, serverError, unavailable, malformedJSON, truncated, oversized, reset, slow }

    let port: Int
    private let listener: Int32
    private let classifier: Classifier
    private let faultRate: Double
    private var rng: SeededGenerator
    private let lock = NSLock()
    private(set) var responses = 0
    private(set) var faulty: [Fault: Int] = [:]

    init(classifier: Classifier, faultRate: Double, seed: UInt64) throws {
        self.classifier = classifier
        self.faultRate = faultRate
        rng = SeededGenerator(seed: seed)
        (listener, port) = try loopbackListener()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    var faultyShare: Double { lock.withLock { responses == 0 ? 0 : Double(faulty.values.reduce(0, +)) / Double(responses) } }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func nextFault() -> Fault? {
        lock.withLock {
            responses += 1
            guard Double(rng.nextUnitFloat()) < faultRate else { return nil }
            let fault = Fault.allCases[Int(rng.next() % UInt64(Fault.allCases.count))]
            faulty[fault, default: 0] += 1
            return fault
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        while let body = readRequest(connection) {
            let fault = nextFault()
            switch fault {
            case .hang?: Thread.sleep(forTimeInterval: 1.5); return
            case .tooManyRequests?: send(connection, status: "429 Too Many Requests", headers: ["Retry-After: 1"], body: Data(#"{"error":"slow down"}"#.utf8))
            case .serverError?: send(connection, status: "500 Internal Server Error", body: Data(#"{"error":"boom"}"#.utf8))
            case .unavailable?: send(connection, status: "503 Service Unavailable", headers: ["Retry-After: 0"], body: Data())
            case .malformedJSON?: send(connection, status: "200 OK", body: Data(#"{"outputs": [{"name": "probabilities", "data": [0.1, "#.utf8))
            case .truncated?:
                let answer = self.answer(body)
                write(connection, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.count)\r\n\r\n")
                _ = answer.prefix(answer.count / 2).withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                return
            case .oversized?: send(connection, status: "200 OK", body: Data(repeating: 0x20, count: 3 << 20))
            case .reset?:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                return
            case .slow?: Thread.sleep(forTimeInterval: 0.2); send(connection, status: "200 OK", body: answer(body))
            case nil: send(connection, status: "200 OK", body: answer(body))
            }
        }
    }

    /// The correct v2 answer for a request body: the classifier's probabilities.
    private func answer(_ body: Data) -> Data {
        guard let request = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let input = (request["inputs"] as? [[String: Any]])?.first, let data = input["data"] as? [NSNumber] else {
            return Data(#"{"error":"bad request"}"#.utf8)
        }
        let pixels = data.map { $0.floatValue }
        let probabilities = lock.withLock { pixels.withUnsafeBufferPointer { classifier.probabilities($0).values } }
        let response: [String: Any] = ["model_name": "suspect", "outputs": [["name": "probabilities", "datatype": "FP32",
                                                                              "shape": [1, probabilities.count], "data": probabilities]]]
        return try! JSONSerialization.data(withJSONObject: response)
    }

    /// One HTTP/1.1 request's body, or nil when the client closed the connection.
    private func readRequest(_ connection: Int32) -> Data? {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = buffer.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                while buffer.count - end.upperBound < length {
                    let read = recv(connection, &chunk, chunk.count, 0)
                    guard read > 0 else { return nil }
                    buffer.append(contentsOf: chunk[0..<read])
                }
                return buffer[end.upperBound..<end.upperBound + length]
            }
            let read = recv(connection, &chunk, chunk.count, 0)
            guard read > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<read])
        }
    }

    private func send(_ connection: Int32, status: String, headers: [String] = [], body: Data) {
        let head = (["HTTP/1.1 \(status)", "Content-Type: application/json", "Content-Length: \(body.count)"] + headers).joined(separator: "\r\n")
        write(connection, head + "\r\n\r\n")
        _ = body.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func write(_ connection: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(connection, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }
}
