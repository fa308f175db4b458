import CCurl
import Foundation

/// One HTTP request as the probe sends it.
public struct OutgoingRequest: Sendable {
    public var method: String
    public var url: RequestURL
    public var headers: [String]
    public var body: Data

    public init(method: String = "POST", url: RequestURL, headers: [String], body: Data) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// What came back, or why nothing usable did.
public struct Exchange: Sendable {
    public enum Failure: Equatable, Sendable {
        /// Connection refused or reset, timeout, truncated body — libcurl's words.
        case transport(String)
        /// The body grew past the configured limit and was abandoned.
        case oversized(Int)
    }
    public var status: Int?
    public var body: Data
    /// `Retry-After` in seconds when the server sent one (delta-seconds or an HTTP date).
    public var retryAfter: Double?
    public var failure: Failure?
    public var seconds: Double
}

/// Transport settings shared by every request to one target.
public struct TransportSettings: Sendable {
    public var connectTimeout: Double = 5
    public var totalTimeout: Double = 30
    public var maximumResponseBytes = 4 << 20
    public var verifiesTLS = true
    public var caBundle: String?
    /// False where the URL comes from someone else (the service's tenants): every address
    /// libcurl is about to connect to is then checked against `InternalAddresses` at that
    /// moment, so a host that resolved to a public address when it was checked and to an
    /// internal one now (DNS rebinding) is still refused.
    public var allowsInternalAddresses = true

    public init() {}
}

/// One libcurl easy handle, reused for every request a probe worker sends (keeping its
/// connection alive). Not shared between threads.
final class CurlSession {
    private let handle: UnsafeMutableRawPointer
    private let settings: TransportSettings
    /// The header list libcurl holds, rebuilt only when a request's headers differ.
    private var headers: [String]?
    private var headerList: UnsafeMutablePointer<curl_slist>?

    /// Sets every option that is the same for all requests once, so a request only sets its URL,
    /// method, headers and body.
    init(settings: TransportSettings) throws {
        guard let handle = curl_easy_init() else { throw ProbeError.transport("curl_easy_init failed") }
        self.handle = handle
        self.settings = settings
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        // The options that keep the probe on the checked URL must hold, or there is no probe.
        func require(_ code: CURLcode, _ option: String) throws {
            guard code == CURLE_OK else { throw ProbeError.transport("libcurl refused \(option): \(String(cString: curl_easy_strerror(code)))") }
        }
        try require(tm_curl_easy_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "CURLOPT_PROTOCOLS_STR")
        try require(tm_curl_easy_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "CURLOPT_REDIR_PROTOCOLS_STR")
        // A redirect would be a URL nobody checked; a 3xx is recorded as the answer instead.
        try require(tm_curl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "CURLOPT_FOLLOWLOCATION")
        if !settings.allowsInternalAddresses {
            // Through a proxy the address connected to would be the proxy's, not the target's.
            try require(tm_curl_easy_setopt_string(handle, CURLOPT_PROXY, ""), "CURLOPT_PROXY")
            try require(tm_curl_easy_setopt_opensocket_callback(handle) { context, _, address in
                let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                guard let address else { return CURL_SOCKET_BAD }
                var bytes = [UInt8](repeating: 0, count: 16)
                let length = Int(tm_curl_sockaddr_ip(address, &bytes))
                let ip = Array(bytes.prefix(length))
                if let range = InternalAddresses.range(containing: ip) {
                    sink.refusedAddresses.append("address \(formatAddress(ip)) is internal; refused (\(range.description))")
                    return CURL_SOCKET_BAD
                }
                return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
            }, "CURLOPT_OPENSOCKETFUNCTION")
        }
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000))
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(settings.totalTimeout * 1000))
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, settings.verifiesTLS ? 1 : 0)
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, settings.verifiesTLS ? 2 : 0)
        if let caBundle = settings.caBundle { _ = tm_curl_easy_setopt_string(handle, CURLOPT_CAINFO, caBundle) }
        _ = tm_curl_easy_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if sink.body.count + length > sink.limit {
                sink.oversized = true
                return 0
            }
            if let data { sink.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length) }
            return length
        }
        _ = tm_curl_easy_setopt_xferinfo_callback(handle) { context, _, _, _, _ in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            guard sink.isCancelled?() == true else { return 0 }
            sink.cancelled = true
            return 1
        }
        _ = tm_curl_easy_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            // Only a line starting with R can be Retry-After: skip the others without making a String.
            if let data, length > 12, data.pointee == 0x52 || data.pointee == 0x72 {
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                if let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "retry-after" {
                    sink.retryAfter = parseRetryAfter(line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
            return length
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
    }

    /// Collects the body and headers while libcurl delivers them.
    private final class Sink {
        var body = Data()
        var retryAfter: Double?
        var limit: Int
        var oversized = false
        /// Why the open-socket callback refused each address it refused (a host may have several).
        var refusedAddresses: [String] = []
        let isCancelled: (() -> Bool)?
        var cancelled = false
        init(limit: Int, isCancelled: (() -> Bool)?) {
            self.limit = limit
            self.isCancelled = isCancelled
        }
    }

    /// Sends one request and waits for its answer. With `isCancelled`, libcurl asks it about once
    /// a second (and as data moves) and abandons the request when it answers true: a cancelled
    /// probe against a tarpit ends within a second, not at the target's timeout.
    func perform(_ request: OutgoingRequest, isCancelled: (() -> Bool)? = nil) -> Exchange {
        let started = Date()
        let sink = Sink(limit: settings.maximumResponseBytes, isCancelled: isCancelled)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        _ = tm_curl_easy_setopt_long(handle, CURLOPT_NOPROGRESS, isCancelled == nil ? 1 : 0)
        _ = tm_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        if headers != request.headers {
            curl_slist_free_all(headerList)
            headerList = nil
            // "Expect:" stops libcurl from asking for 100-continue before bodies over 1 KiB, a
            // round trip per query that servers answer late or never.
            for header in request.headers + ["Expect:"] { headerList = curl_slist_append(headerList, header) }
            headers = request.headers
            _ = tm_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
        }
        _ = tm_curl_easy_setopt_string(handle, CURLOPT_URL, request.url.text)
        _ = tm_curl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        _ = tm_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = tm_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = tm_curl_easy_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        let code: CURLcode = request.body.withUnsafeBytes { body in
            _ = tm_curl_easy_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            _ = tm_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
            return curl_easy_perform(handle)
        }
        var status = 0
        _ = tm_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let seconds = Date().timeIntervalSince(started)
        var failure: Exchange.Failure? = nil
        if sink.oversized {
            failure = .oversized(settings.maximumResponseBytes)
        } else if sink.cancelled {
            failure = .transport("cancelled")
        } else if code != CURLE_OK {
            failure = .transport(sink.refusedAddresses.isEmpty ? String(cString: curl_easy_strerror(code)) : sink.refusedAddresses.joined(separator: "; "))
        }
        return Exchange(status: status == 0 ? nil : status, body: sink.body, retryAfter: sink.retryAfter, failure: failure, seconds: seconds)
    }
}

/// `Retry-After` as seconds: delta-seconds, or an HTTP date counted from now.
func parseRetryAfter(_ value: String) -> Double? {
    if let seconds = Double(value), seconds >= 0 { return seconds }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
}

public enum ProbeError: Error, CustomStringConvertible, Equatable {
    case transport(String)
    case malformed(String)
    case badTarget(String)
    case transcript(String)

    public var description: String {
        switch self {
        case .transport(let reason): return "transport: \(reason)"
        case .malformed(let reason): return "malformed response: \(reason)"
        case .badTarget(let reason): return "target configuration: \(reason)"
        case .transcript(let reason): return "transcript: \(reason)"
        }
    }
}
