import Foundation

/// TorchServe: `POST {url}/predictions/{model}` with the raw input as the body (a PNG unless the
/// target asks for a JSON tensor); the handler's usual answer is `{"label": probability, …}`
/// (top-k class names), or a bare label.
struct TorchServeAdapter: ProbeAdapter {
    let endpoint: Endpoint
    let encoding: InputEncoding
    let labels: LabelReader

    static func path(model: String) -> String { "/predictions/\(model)" }

    func request(for image: [Float], queryID: Int) throws -> OutgoingRequest {
        switch encoding.encoding {
        case .png: return endpoint.post(contentType: "image/png", body: encoding.png(image))
        case .pngBase64: return endpoint.post(contentType: "text/plain", body: Data(encoding.png(image).base64EncodedString().utf8))
        case .tensor: return endpoint.post(contentType: "application/json", body: Data(#"{"data":\#(encoding.json(image))}"#.utf8))
        }
    }

    func answer(from body: Data) throws -> Answer {
        let parsed = try parseJSON(body)
        let answer = (parsed as? [Any])?.first ?? parsed
        if let scores = answer as? [String: Any] {
            // Top-k handlers name only some classes: the answer's label is their best, and the
            // probabilities are kept only when every class is present.
            let vector = try labels.probabilities(scores)
            let best = labels.answer(probabilities: vector)
            return scores.count == labels.classNames.count ? best : Answer(label: best.label, probabilities: nil)
        }
        if answer is [Any] { return labels.answer(probabilities: try labels.probabilities(answer)) }
        return Answer(label: try labels.label(answer), probabilities: nil)
    }
}
