import CCurl

/// A URL the probe may fetch: a target's base URL and a request path joined, parsed by libcurl's
/// own URL parser — the one that will fetch it, so no second reading can disagree — and refused
/// unless the scheme is http or https, there is a host, there is no userinfo, no `@` or `\`
/// appears anywhere, and the path starts with `/`. Joining first and checking the whole closes
/// the hole where a checked base plus an unchecked path (`@127.0.0.1:8080/…`) names another
/// host. libcurl is handed `text`, its own re-serialisation of what was checked.
public struct RequestURL: Sendable, Equatable {
    public let text: String
    /// The host as libcurl reads it, an IPv6 literal without its brackets.
    public let host: String

    /// `base` is a URL without query or fragment (a trailing `/` is dropped); `path` starts
    /// with `/`. To check a base URL alone, give the path `/`.
    public init(base: String, path: String) throws {
        guard !base.contains(where: { $0 == "?" || $0 == "#" }) else {
            throw ProbeError.badTarget("url \(base.debugDescription) has a query or fragment; request paths are appended to it")
        }
        guard path.hasPrefix("/") else { throw ProbeError.badTarget("request path \(path.debugDescription) does not start with /") }
        let joined = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
        // Control characters would end the string early in C (NUL) or split a request line (CR, LF).
        if let bad = joined.unicodeScalars.first(where: { $0 == "@" || $0 == "\\" || $0.value < 0x21 || $0.value == 0x7F }) {
            let what = bad == "@" || bad == "\\" ? "\(bad)" : bad == " " ? "a space" : "control character U+" + String(bad.value, radix: 16, uppercase: true)
            throw ProbeError.badTarget("URL \(joined.debugDescription) holds \(what); no target URL may hold @, \\, spaces or control characters")
        }
        guard let handle = curl_url() else { throw ProbeError.transport("curl_url failed") }
        defer { curl_url_cleanup(handle) }
        // Any scheme parses, so that one not http or https is refused below with a clear reason.
        let parsed = curl_url_set(handle, CURLUPART_URL, joined, UInt32(CURLU_DISALLOW_USER | CURLU_NON_SUPPORT_SCHEME))
        guard parsed == CURLUE_OK else {
            throw ProbeError.badTarget("URL \(joined) does not parse: \(String(cString: curl_url_strerror(parsed)))")
        }
        func part(_ which: CURLUPart) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, which, &value, 0) == CURLUE_OK, let value else { return nil }
            defer { curl_free(value) }
            return String(cString: value)
        }
        guard let scheme = part(CURLUPART_SCHEME)?.lowercased(), scheme == "http" || scheme == "https" else {
            throw ProbeError.badTarget("URL \(joined) must start with http:// or https://")
        }
        guard var host = part(CURLUPART_HOST), !host.isEmpty else { throw ProbeError.badTarget("URL \(joined) has no host") }
        guard part(CURLUPART_PATH)?.hasPrefix("/") == true, let text = part(CURLUPART_URL) else {
            throw ProbeError.badTarget("URL \(joined) has no path starting with /")
        }
        let bracketed = host.hasPrefix("[") && host.hasSuffix("]")
        if bracketed { host = String(host.dropFirst().dropLast()) }
        // A DNS name or an IP address, nothing else: libcurl would hand `suspect.examp|e` to the
        // resolver as it is, where every other URL parser refuses it.
        let isHostCharacter: (Unicode.Scalar) -> Bool = { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", ".", "_": return true
            case ":": return bracketed
            default: return false
            }
        }
        guard host.unicodeScalars.allSatisfy(isHostCharacter) else {
            throw ProbeError.badTarget("URL \(joined) has host \(host.debugDescription); a host is a DNS name (letters, digits, '-', '.', '_') or an IP address")
        }
        self.text = text
        self.host = host
    }
}
