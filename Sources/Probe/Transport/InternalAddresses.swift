import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Addresses a probe must not reach when internal addresses are forbidden (the forensic service:
/// tenants name the URL, and the service must not become a way into its operator's network).
///
/// The table is every entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries
/// (https://www.iana.org/assignments/iana-ipv4-special-registry/ and
/// https://www.iana.org/assignments/iana-ipv6-special-registry/), globally reachable or not —
/// NAT64, 6to4 and Teredo carry an IPv4 address the gateway would connect to, and documentation
/// or benchmarking space has no business answering a probe — plus the multicast blocks and the
/// deprecated IPv4-compatible and site-local IPv6 ranges. IPv4-mapped IPv6 addresses
/// (`::ffff:0:0/96`) are judged by the IPv4 address they carry, the one the kernel connects to.
public enum InternalAddresses {
    public struct Range: Sendable, CustomStringConvertible {
        public let prefix: [UInt8]
        public let length: Int
        public let name: String

        /// `prefix` in its usual text form, `length` bits of it significant.
        init(_ prefix: String, _ length: Int, _ name: String) {
            self.prefix = parseAddress(prefix)!
            self.length = length
            self.name = name
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == prefix.count else { return false }
            let (whole, rest) = (length / 8, length % 8)
            guard address[..<whole] == prefix[..<whole] else { return false }
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return address[whole] & mask == prefix[whole] & mask
        }

        public var description: String { "\(formatAddress(prefix))/\(length) \(name)" }
    }

    static let ipv4: [Range] = [
        Range("0.0.0.0", 8, "this network (RFC 791)"),
        Range("10.0.0.0", 8, "private use (RFC 1918)"),
        Range("100.64.0.0", 10, "shared address space (RFC 6598)"),
        Range("127.0.0.0", 8, "loopback (RFC 1122)"),
        Range("169.254.0.0", 16, "link local (RFC 3927)"),
        Range("172.16.0.0", 12, "private use (RFC 1918)"),
        Range("192.0.0.0", 24, "IETF protocol assignments (RFC 6890)"),
        Range("192.0.2.0", 24, "documentation, TEST-NET-1 (RFC 5737)"),
        Range("192.31.196.0", 24, "AS112-v4 (RFC 7535)"),
        Range("192.52.193.0", 24, "AMT (RFC 7450)"),
        Range("192.88.99.0", 24, "deprecated 6to4 relay anycast (RFC 7526)"),
        Range("192.168.0.0", 16, "private use (RFC 1918)"),
        Range("192.175.48.0", 24, "direct delegation AS112 service (RFC 7534)"),
        Range("198.18.0.0", 15, "benchmarking (RFC 2544)"),
        Range("198.51.100.0", 24, "documentation, TEST-NET-2 (RFC 5737)"),
        Range("203.0.113.0", 24, "documentation, TEST-NET-3 (RFC 5737)"),
        Range("224.0.0.0", 4, "multicast (RFC 5771)"),
        Range("240.0.0.0", 4, "reserved (RFC 1112)"),
        Range("255.255.255.255", 32, "limited broadcast (RFC 919)"),
    ]

    static let ipv6: [Range] = [
        Range("::", 96, "unspecified, loopback and deprecated IPv4-compatible (RFC 4291)"),
        Range("64:ff9b::", 96, "IPv4/IPv6 translation, NAT64 (RFC 6052)"),
        Range("64:ff9b:1::", 48, "local-use IPv4/IPv6 translation (RFC 8215)"),
        Range("100::", 64, "discard-only (RFC 6666)"),
        Range("100:0:0:1::", 64, "dummy IPv6 prefix (RFC 9780)"),
        Range("2001::", 23, "IETF protocol assignments: Teredo, benchmarking, AMT, AS112, ORCHID, drone remote ID (RFC 2928)"),
        Range("2001:db8::", 32, "documentation (RFC 3849)"),
        Range("2002::", 16, "6to4 (RFC 3056)"),
        Range("2620:4f:8000::", 48, "direct delegation AS112 service (RFC 7534)"),
        Range("3fff::", 20, "documentation (RFC 9637)"),
        Range("5f00::", 16, "segment routing SIDs (RFC 9602)"),
        Range("fc00::", 7, "unique local (RFC 4193)"),
        Range("fe80::", 10, "link-local unicast (RFC 4291)"),
        Range("fec0::", 10, "deprecated site-local (RFC 3879)"),
        Range("ff00::", 8, "multicast (RFC 4291)"),
    ]

    /// The range holding `address` (4 bytes for IPv4, 16 for IPv6), nil for an address the probe
    /// may reach. Anything of another length is not an address and is refused with its own range.
    public static func range(containing address: [UInt8]) -> Range? {
        if address.count == 16, address[..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            return range(containing: Array(address[12...]))
        }
        switch address.count {
        case 4: return ipv4.first { $0.contains(address) }
        case 16: return ipv6.first { $0.contains(address) }
        default: return notAnAddress
        }
    }

    private static let notAnAddress = Range("0.0.0.0", 0, "not an IPv4 or IPv6 address")

    /// The host's addresses (4 or 16 bytes each), as getaddrinfo gives them: an IP literal
    /// parses without asking DNS, a name does not.
    public static func resolve(_ host: String) -> [[UInt8]] {
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
}

/// An IPv4 or IPv6 address in text form as 4 or 16 bytes, nil when it is neither.
func parseAddress(_ text: String) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: 16)
    if inet_pton(AF_INET, text, &bytes) == 1 { return Array(bytes.prefix(4)) }
    if inet_pton(AF_INET6, text, &bytes) == 1 { return bytes }
    return nil
}

/// 4 or 16 bytes in the usual text form (`127.0.0.1`, `::1`).
public func formatAddress(_ address: [UInt8]) -> String {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    guard address.count == 4 || address.count == 16,
          inet_ntop(address.count == 4 ? AF_INET : AF_INET6, address, &text, socklen_t(text.count)) != nil else {
        return address.map { String(format: "%02x", $0) }.joined()
    }
    return String(cString: text)
}
