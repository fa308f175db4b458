import Engine
import Foundation

/// A suspect's API as `TARGET.json` describes it. Only `url` and `protocol` are required.
///
/// ```json
/// {"url": "http://127.0.0.1:8080", "protocol": "open-inference-v2", "model": "fmnist",
///  "concurrency": 4, "rate_limit": 50, "auth": {"header": "Authorization", "env": "SUSPECT_TOKEN", "prefix": "Bearer "}}
/// ```
///
/// Every value is checked when a target is made, decoded ones included: the URL the probe will
/// fetch (see `RequestURL`), what lands in headers, and every bound the transport relies on.
public struct Target: Codable, Sendable {
    public enum APIProtocol: String, Codable, Sendable, CaseIterable {
        case openInferenceV2 = "open-inference-v2"
        case tfServing = "tf-serving"
        case torchServe = "torchserve"
        case template
    }

    /// How pixels in [0, 1] become what the API wants: `value = (pixel·scale − mean) / std`
    /// per channel, then laid out as `layout` (tensor encodings) or drawn as an 8-bit PNG.
    /// `mean` and `std` hold one value for every channel or one per channel (checked against
    /// the images' channels when the adapter is made).
    public struct Input: Codable, Sendable {
        public enum Encoding: String, Codable, Sendable { case tensor, png, pngBase64 = "png-base64" }
        public enum Layout: String, Codable, Sendable { case nchw, nhwc, flat }
        public let encoding: Encoding?
        public let layout: Layout?
        public let scale: Double?
        public let mean: [Double]?
        public let std: [Double]?

        /// Magnitudes that keep `(pixel·scale − mean) / std` finite: JSON has no infinity.
        static let magnitudes = 1e-6...1e6

        public init(encoding: Encoding? = nil, layout: Layout? = nil, scale: Double? = nil, mean: [Double]? = nil, std: [Double]? = nil) throws {
            let bounds = "\(Self.magnitudes.lowerBound)–\(Self.magnitudes.upperBound)"
            if let scale, !Self.magnitudes.contains(abs(scale)) { throw ProbeError.badTarget("input.scale must be a number of magnitude \(bounds)") }
            if let mean, mean.isEmpty || !mean.allSatisfy({ abs($0) <= Self.magnitudes.upperBound }) {
                throw ProbeError.badTarget("input.mean must hold numbers of magnitude at most \(Self.magnitudes.upperBound), one for all channels or one per channel")
            }
            if let std, std.isEmpty || !std.allSatisfy({ Self.magnitudes.contains(abs($0)) }) {
                throw ProbeError.badTarget("input.std must hold non-zero numbers of magnitude \(bounds), one for all channels or one per channel")
            }
            (self.encoding, self.layout, self.scale, self.mean, self.std) = (encoding, layout, scale, mean, std)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try self.init(encoding: c.decodeIfPresent(Encoding.self, forKey: .encoding), layout: c.decodeIfPresent(Layout.self, forKey: .layout),
                          scale: c.decodeIfPresent(Double.self, forKey: .scale), mean: c.decodeIfPresent([Double].self, forKey: .mean),
                          std: c.decodeIfPresent([Double].self, forKey: .std))
        }
    }

    /// A generic JSON API: a body template and where the answer is in the response.
    public struct Template: Codable, Sendable {
        /// Request path appended to `url`, starting with `/`, e.g. `/predict`.
        public let path: String
        /// Body with placeholders `{{input}}` (a JSON array of the encoded input),
        /// `{{input_png_base64}}` and `{{id}}`.
        public let body: String
        public let contentType: String?
        /// Dot path to the probability vector in the response, e.g. `result.scores` or `outputs.0.data`.
        public let probabilitiesPath: String?
        /// Dot path to the label (a number or a name mapped by `label_map`).
        public let labelPath: String?

        /// The path's whole URL is checked with the target's `url` (`RequestURL`); here only what
        /// the template alone decides.
        public init(path: String, body: String, contentType: String? = nil, probabilitiesPath: String? = nil, labelPath: String? = nil) throws {
            guard path.hasPrefix("/") else { throw ProbeError.badTarget("template.path must start with / (it is appended to url), not \(path.debugDescription)") }
            try checkLine(path, key: "template.path")
            // The body is sent as the body, never in a header: line breaks are JSON whitespace there.
            guard !body.contains("\0") else { throw ProbeError.badTarget("template.body must not contain NUL") }
            if let contentType { try checkLine(contentType, key: "template.content_type") }
            if let probabilitiesPath { try checkLine(probabilitiesPath, key: "template.probabilities_path") }
            if let labelPath { try checkLine(labelPath, key: "template.label_path") }
            guard probabilitiesPath != nil || labelPath != nil else { throw ProbeError.badTarget("the template needs probabilities_path or label_path") }
            (self.path, self.body, self.contentType, self.probabilitiesPath, self.labelPath) = (path, body, contentType, probabilitiesPath, labelPath)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try self.init(path: c.decode(String.self, forKey: .path), body: c.decode(String.self, forKey: .body),
                          contentType: c.decodeIfPresent(String.self, forKey: .contentType),
                          probabilitiesPath: c.decodeIfPresent(String.self, forKey: .probabilitiesPath),
                          labelPath: c.decodeIfPresent(String.self, forKey: .labelPath))
        }
    }

    public struct Auth: Codable, Sendable {
        /// Header name, e.g. `Authorization` or `X-API-Key`.
        public let header: String
        /// Environment variable holding the secret (never stored in the target file or logs).
        public let env: String
        public let prefix: String?

        public init(header: String, env: String, prefix: String? = nil) throws {
            guard !header.isEmpty, header.unicodeScalars.allSatisfy(isTokenCharacter) else {
                throw ProbeError.badTarget("auth.header must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~), not \(header.debugDescription)")
            }
            func isLetter(_ scalar: Unicode.Scalar) -> Bool { scalar == "_" || scalar.isASCII && scalar.properties.isAlphabetic }
            guard let first = env.unicodeScalars.first, isLetter(first),
                  env.unicodeScalars.allSatisfy({ isLetter($0) || ("0"..."9").contains($0) }) else {
                throw ProbeError.badTarget("auth.env must be an environment variable name (letters, digits and _, not starting with a digit)")
            }
            if let prefix { try checkLine(prefix, key: "auth.prefix") }
            (self.header, self.env, self.prefix) = (header, env, prefix)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try self.init(header: c.decode(String.self, forKey: .header), env: c.decode(String.self, forKey: .env),
                          prefix: c.decodeIfPresent(String.self, forKey: .prefix))
        }
    }

    public let url: String
    public let `protocol`: APIProtocol
    /// The model's name in the API path (v2, TF Serving, TorchServe).
    public let model: String?
    public let input: Input?
    public let template: Template?
    /// The suspect's label names (or numbers as strings) → our class index.
    public let labelMap: [String: Int]?
    public let concurrency: Int?
    /// Requests per second across all workers.
    public let rateLimit: Double?
    public let maxAttempts: Int?
    public let connectTimeoutMs: Int?
    public let timeoutMs: Int?
    public let maxResponseBytes: Int?
    public let backoffMs: Int?
    public let maxBackoffMs: Int?
    public let caBundle: String?
    public let insecure: Bool?
    public let auth: Auth?
    /// The one URL every query goes to: `url` joined with the protocol's path, checked.
    public let requestURL: RequestURL

    public static let largestResponseBytes = 64 << 20

    public init(url: String, protocol apiProtocol: APIProtocol, model: String? = nil, input: Input? = nil, template: Template? = nil,
                labelMap: [String: Int]? = nil, concurrency: Int? = nil, rateLimit: Double? = nil, maxAttempts: Int? = nil,
                connectTimeoutMs: Int? = nil, timeoutMs: Int? = nil, maxResponseBytes: Int? = nil, backoffMs: Int? = nil,
                maxBackoffMs: Int? = nil, caBundle: String? = nil, insecure: Bool? = nil, auth: Auth? = nil) throws {
        func check<Value: Comparable>(_ value: Value?, in range: ClosedRange<Value>, _ message: String) throws {
            if let value, !range.contains(value) { throw ProbeError.badTarget(message) }
        }
        // libcurl reads a timeout of 0 as none at all: one tarpit would then hold the probe forever.
        try check(timeoutMs, in: 1...120_000, "timeout_ms must be 1–120000 (milliseconds)")
        try check(connectTimeoutMs, in: 1...30_000, "connect_timeout_ms must be 1–30000 (milliseconds)")
        try check(concurrency, in: 1...64, "concurrency must be 1–64")
        try check(maxAttempts, in: 1...20, "max_attempts must be 1–20")
        try check(backoffMs, in: 0...60_000, "backoff_ms must be 0–60000 (milliseconds)")
        try check(maxBackoffMs, in: 0...60_000, "max_backoff_ms must be 0–60000 (milliseconds)")
        try check(maxResponseBytes, in: 1...Self.largestResponseBytes, "max_response_bytes must be 1–\(Self.largestResponseBytes) (64 MiB)")
        if let rateLimit, !(rateLimit.isFinite && rateLimit > 0) { throw ProbeError.badTarget("rate_limit must be a finite positive number (requests/s)") }
        if let negative = labelMap?.first(where: { $0.value < 0 }) {
            throw ProbeError.badTarget("label_map maps \(negative.key.debugDescription) to \(negative.value); values are class indices from 0")
        }
        if let caBundle {
            guard !caBundle.isEmpty, !caBundle.unicodeScalars.contains(where: \.isControlCharacter) else {
                throw ProbeError.badTarget("ca_bundle must be a file path without control characters")
            }
        }
        if let model { try checkModelName(model) }
        let path: String
        switch apiProtocol {
        case .template:
            guard let template else { throw ProbeError.badTarget("the template protocol needs a template") }
            path = template.path
        case .openInferenceV2, .tfServing, .torchServe:
            guard let model else { throw ProbeError.badTarget("\(apiProtocol.rawValue) needs a model name") }
            path = apiProtocol == .openInferenceV2 ? OpenInferenceAdapter.path(model: model)
                : apiProtocol == .tfServing ? TFServingAdapter.path(model: model) : TorchServeAdapter.path(model: model)
        }
        requestURL = try RequestURL(base: url, path: path)
        (self.url, self.protocol, self.model, self.input, self.template, self.labelMap) = (url, apiProtocol, model, input, template, labelMap)
        (self.concurrency, self.rateLimit, self.maxAttempts, self.connectTimeoutMs, self.timeoutMs) = (concurrency, rateLimit, maxAttempts, connectTimeoutMs, timeoutMs)
        (self.maxResponseBytes, self.backoffMs, self.maxBackoffMs, self.caBundle, self.insecure, self.auth) = (maxResponseBytes, backoffMs, maxBackoffMs, caBundle, insecure, auth)
    }

    private enum CodingKeys: String, CodingKey {
        case url, `protocol`, model, input, template, labelMap, concurrency, rateLimit, maxAttempts, connectTimeoutMs, timeoutMs,
             maxResponseBytes, backoffMs, maxBackoffMs, caBundle, insecure, auth
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(url: c.decode(String.self, forKey: .url), protocol: c.decode(APIProtocol.self, forKey: .protocol),
                      model: c.decodeIfPresent(String.self, forKey: .model), input: c.decodeIfPresent(Input.self, forKey: .input),
                      template: c.decodeIfPresent(Template.self, forKey: .template),
                      labelMap: c.decodeIfPresent([String: Int].self, forKey: .labelMap),
                      concurrency: c.decodeIfPresent(Int.self, forKey: .concurrency), rateLimit: c.decodeIfPresent(Double.self, forKey: .rateLimit),
                      maxAttempts: c.decodeIfPresent(Int.self, forKey: .maxAttempts),
                      connectTimeoutMs: c.decodeIfPresent(Int.self, forKey: .connectTimeoutMs), timeoutMs: c.decodeIfPresent(Int.self, forKey: .timeoutMs),
                      maxResponseBytes: c.decodeIfPresent(Int.self, forKey: .maxResponseBytes),
                      backoffMs: c.decodeIfPresent(Int.self, forKey: .backoffMs), maxBackoffMs: c.decodeIfPresent(Int.self, forKey: .maxBackoffMs),
                      caBundle: c.decodeIfPresent(String.self, forKey: .caBundle), insecure: c.decodeIfPresent(Bool.self, forKey: .insecure),
                      auth: c.decodeIfPresent(Auth.self, forKey: .auth))
    }

    public static func load(_ path: String) throws -> Target {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProbeError.badTarget("cannot read \(path)") }
        do { return try CanonicalJSON.decode(Target.self, from: data) } catch ProbeError.badTarget(let reason) {
            throw ProbeError.badTarget("\(path): \(reason)")
        } catch {
            throw ProbeError.badTarget("\(path) is not a valid target: \(error)")
        }
    }

    /// The transport settings this target asks for (defaults where it is silent).
    public var transport: TransportSettings {
        var settings = TransportSettings()
        if let connectTimeoutMs { settings.connectTimeout = Double(connectTimeoutMs) / 1000 }
        if let timeoutMs { settings.totalTimeout = Double(timeoutMs) / 1000 }
        if let maxResponseBytes { settings.maximumResponseBytes = maxResponseBytes }
        settings.verifiesTLS = !(insecure ?? false)
        settings.caBundle = caBundle
        return settings
    }

    /// The auth header, read from the environment now; nil when the target has no auth.
    public func authHeader(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        guard let auth else { return nil }
        guard let secret = environment[auth.env], !secret.isEmpty else {
            throw ProbeError.badTarget("auth needs the environment variable \(auth.env)")
        }
        try checkLine(secret, key: "the environment variable \(auth.env)")
        return "\(auth.header): \(auth.prefix ?? "")\(secret)"
    }
}

/// A model name lands in the request path: only URL-unreserved characters, and not a dot segment.
func checkModelName(_ name: String) throws {
    let unreserved = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._~".unicodeScalars.contains($0)) }
    guard !name.isEmpty, unreserved, name != ".", name != ".." else {
        throw ProbeError.badTarget("model must be a name of letters, digits and -._~ (it is part of the URL path), not \(name.debugDescription)")
    }
}

/// Text that goes into a header line: no control character but tab, so no CR or LF can start
/// a header of its own and no NUL can cut the line short in C.
func checkLine(_ text: String, key: String) throws {
    if text.unicodeScalars.contains(where: { $0.isControlCharacter && $0 != "\t" }) {
        throw ProbeError.badTarget("\(key) must not contain control characters (CR, LF, NUL, …)")
    }
}


/// RFC 7230 §3.2.6 `tchar`.
private func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
    scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar))
}
