import Foundation

/// A suspect's API as `TARGET.json` describes it. Only `url` and `protocol` are required.
///
/// ```json
/// {"url": "http://127.0.0.1:8080", "protocol": "open-inference-v2", "model": "fmnist",
///  "concurrency": 4, "rate_limit": 50, "auth": {"header": "Authorization", "env": "SUSPECT_TOKEN", "prefix": "Bearer "}}
/// ```
public struct Target: Codable, Sendable {
    public enum APIProtocol: String, Codable, Sendable, CaseIterable {
        case openInferenceV2 = "open-inference-v2"
        case tfServing = "tf-serving"
        case torchServe = "torchserve"
        case template
    }

    /// How pixels in [0, 1] become what the API wants: `value = (pixel·scale − mean) / std`
    /// per channel, then laid out as `layout` (tensor encodings) or drawn as an 8-bit PNG.
    public struct Input: Codable, Sendable {
        public enum Encoding: String, Codable, Sendable { case tensor, png, pngBase64 = "png-base64" }
        public enum Layout: String, Codable, Sendable { case nchw, nhwc, flat }
        public var encoding: Encoding?
        public var layout: Layout?
        public var scale: Double?
        public var mean: [Double]?
        public var std: [Double]?
        public init() {}
    }

    /// A generic JSON API: a body template and where the answer is in the response.
    public struct Template: Codable, Sendable {
        /// Request path appended to `url`, e.g. `/predict`.
        public var path: String
        /// Body with placeholders `{{input}}` (a JSON array of the encoded input),
        /// `{{input_png_base64}}` and `{{id}}`.
        public var body: String
        public var contentType: String?
        /// Dot path to the probability vector in the response, e.g. `result.scores` or `outputs.0.data`.
        public var probabilitiesPath: String?
        /// Dot path to the label (a number or a name mapped by `label_map`).
        public var labelPath: String?
    }

    public struct Auth: Codable, Sendable {
        /// Header name, e.g. `Authorization` or `X-API-Key`.
        public var header: String
        /// Environment variable holding the secret (never stored in the target file or logs).
        public var env: String
        public var prefix: String?
    }

    public var url: String
    public var `protocol`: APIProtocol
    /// The model's name in the API path (v2, TF Serving, TorchServe).
    public var model: String?
    public var input: Input?
    public var template: Template?
    /// The suspect's label names (or numbers as strings) → our class index.
    public var labelMap: [String: Int]?
    public var concurrency: Int?
    /// Requests per second across all workers.
    public var rateLimit: Double?
    public var maxAttempts: Int?
    public var connectTimeoutMs: Int?
    public var timeoutMs: Int?
    public var maxResponseBytes: Int?
    public var backoffMs: Int?
    public var maxBackoffMs: Int?
    public var caBundle: String?
    public var insecure: Bool?
    public var auth: Auth?

    public init(url: String, protocol apiProtocol: APIProtocol, model: String?) {
        self.url = url
        self.protocol = apiProtocol
        self.model = model
    }

    public static func load(_ path: String) throws -> Target {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProbeError.badTarget("cannot read \(path)") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let target: Target
        do { target = try decoder.decode(Target.self, from: data) } catch {
            throw ProbeError.badTarget("\(path) is not a valid target: \(error)")
        }
        if let problem = target.problems.first { throw ProbeError.badTarget("\(path): \(problem)") }
        return target
    }

    public var problems: [String] {
        var found: [String] = []
        if !(url.hasPrefix("http://") || url.hasPrefix("https://")) { found.append("url must start with http:// or https://") }
        if `protocol` != .template && (model ?? "").isEmpty { found.append("\(`protocol`.rawValue) needs a model name") }
        if `protocol` == .template && template == nil { found.append("the template protocol needs a template") }
        if let t = template, t.probabilitiesPath == nil && t.labelPath == nil { found.append("the template needs probabilities_path or label_path") }
        if let concurrency, !(1...64).contains(concurrency) { found.append("concurrency must be 1–64") }
        if let rateLimit, !(rateLimit > 0) { found.append("rate_limit must be positive") }
        if let maxAttempts, !(1...20).contains(maxAttempts) { found.append("max_attempts must be 1–20") }
        if let std = input?.std, std.contains(where: { $0 == 0 }) { found.append("input.std must not contain 0") }
        return found
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
        return "\(auth.header): \(auth.prefix ?? "")\(secret)"
    }
}
