import Foundation
import TestSupport

/// An HTTP server on 127.0.0.1 that answers every request with the same status and body, and
/// counts the requests it read: the tests that must show a request never left use the count.
final class CannedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let body: Data
    private let status: String
    private let lock = NSLock()
    private var count = 0

    var requests: Int { lock.withLock { count } }

    /// `status` is the status line's code and reason, such as "400 Bad Request".
    init(answering body: String, status: String = "200 OK") throws {
        self.body = Data(body.utf8)
        self.status = status
        (listener, port) = try loopbackListener()
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread.detachNewThread { [self] in serve(connection) }
            }
        }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var received = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = received.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count - end.upperBound < length {
                    let read = recv(connection, &chunk, chunk.count, 0)
                    guard read > 0 else { return }
                    received.append(contentsOf: chunk[0..<read])
                    continue
                }
                lock.withLock { count += 1 }
                received.removeSubrange(..<(end.upperBound + length))
                let answer = Data("HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
                _ = answer.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                continue
            }
            let read = recv(connection, &chunk, chunk.count, 0)
            guard read > 0 else { return }
            received.append(contentsOf: chunk[0..<read])
        }
    }
}
