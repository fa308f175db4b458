import Foundation

/// An HTTP server on 127.0.0.1 that answers every request with the same body, and counts the
/// requests it read: the tests that must show a request never left use the count.
final class CannedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let body: Data
    private let lock = NSLock()
    private var count = 0

    var requests: Int { lock.withLock { count } }

    init(answering body: String) throws {
        self.body = Data(body.utf8)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        guard bound == 0, listen(socket, 16) == 0 else { throw NSError(domain: "CannedServer", code: Int(errno)) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        listener = socket
        port = Int(UInt16(bigEndian: address.sin_port))
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
                let answer = Data("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
                _ = answer.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                continue
            }
            let read = recv(connection, &chunk, chunk.count, 0)
            guard read > 0 else { return }
            received.append(contentsOf: chunk[0..<read])
        }
    }
}
