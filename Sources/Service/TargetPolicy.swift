import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Probe

/// Which hosts the service may probe. Tenants name the URL, so unless the operator allows it
/// the service refuses hosts that resolve to loopback, private, link-local, shared or multicast
/// addresses: it must not become a way into the operator's own network. (Checked when an
/// investigation is opened and again when its probe starts; a host whose DNS answer changes in
/// between the check and libcurl's own lookup is not caught.)
struct TargetPolicy: Sendable {
    var allowsPrivateAddresses: Bool

    func check(_ target: Target) throws {
        guard !allowsPrivateAddresses else { return }
        guard var host = URLComponents(string: target.url)?.host, !host.isEmpty else {
            throw ServiceError.invalid("target_not_allowed", "the target URL has no host")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let addresses = Self.resolve(host)
        guard !addresses.isEmpty else { throw ServiceError.invalid("target_not_allowed", "\(host) does not resolve") }
        if let inside = addresses.first(where: Self.isInternal) {
            throw ServiceError.invalid("target_not_allowed",
                                       "\(host) resolves to an internal address (\(Self.text(inside))); the operator can allow these with --allow-private-targets")
        }
    }

    /// `scheme://host:port` of a URL, for logs: paths and queries may carry secrets.
    static func hostOnly(_ url: String) -> String {
        guard let parts = URLComponents(string: url), let host = parts.host else { return "(unparsable URL)" }
        return "\(parts.scheme ?? "?")://\(host)\(parts.port.map { ":\($0)" } ?? "")"
    }

    /// The host's addresses as raw bytes (4 for IPv4, 16 for IPv6).
    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var entry = list
        while let current = entry?.pointee {
            if current.ai_family == AF_INET, let address = current.ai_addr {
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    var bytes = $0.pointee.sin_addr
                    addresses.append(withUnsafeBytes(of: &bytes) { Array($0) })
                }
            } else if current.ai_family == AF_INET6, let address = current.ai_addr {
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    var bytes = $0.pointee.sin6_addr
                    addresses.append(withUnsafeBytes(of: &bytes) { Array($0) })
                }
            }
            entry = current.ai_next
        }
        return addresses
    }

    static func isInternal(_ address: [UInt8]) -> Bool {
        if address.count == 16 {
            if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xFF && address[11] == 0xFF { return isInternal(Array(address[12...])) }
            if address[0..<15].allSatisfy({ $0 == 0 }) { return true }                 // :: and ::1
            return address[0] & 0xFE == 0xFC                                           // fc00::/7 unique local
                || (address[0] == 0xFE && address[1] & 0xC0 == 0x80)                   // fe80::/10 link-local
                || address[0] == 0xFF                                                  // multicast
        }
        guard address.count == 4 else { return true }
        let (a, b) = (address[0], address[1])
        return a == 0 || a == 10 || a == 127 || a >= 224                              // this network, private, loopback, multicast and reserved
            || (a == 100 && b & 0xC0 == 64)                                             // 100.64/10 shared (carrier NAT)
            || (a == 169 && b == 254)                                                   // link-local, cloud metadata
            || (a == 172 && b & 0xF0 == 16)                                             // 172.16/12
            || (a == 192 && b == 168)                                                   // 192.168/16
    }

    private static func text(_ address: [UInt8]) -> String {
        address.count == 4 ? address.map(String.init).joined(separator: ".")
            : stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(address[$0]) << 8 | Int(address[$0 + 1])) }.joined(separator: ":")
    }
}
