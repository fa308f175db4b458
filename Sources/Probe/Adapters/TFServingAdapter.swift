import Foundation

/// TensorFlow Serving REST: `POST {url}/v1/models/{model}:predict` with `{"instances": [image]}`
/// (the image nested in the layout, NHWC unless the target says otherwise); the answer is
/// `predictions[0]`, a probability vector or a label.
struct TFServingAdapter: ProbeAdapter {
    let endpoint: Endpoint
    let encoding: InputEncoding
    let labels: LabelReader

    static func path(model: String) -> String { "/v1/models/\(model):predict" }

    func request(for image: [Float], queryID: Int) throws -> OutgoingRequest {
        let instance = encoding.encoding == .pngBase64 ? #"{"b64":"\#(encoding.png(image).base64EncodedString())"}"# : encoding.json(image)
        return endpoint.post(contentType: "application/json", body: Data(#"{"instances":[\#(instance)]}"#.utf8))
    }

    func answer(from body: Data) throws -> Answer {
        guard let predictions = (try parseJSON(body) as? [String: Any])?["predictions"] as? [Any], let first = predictions.first else {
            throw ProbeError.malformed("no predictions")
        }
        if first is [Any] || first is [String: Any] {
            if let object = first as? [String: Any], object["probabilities"] == nil, let label = object["label"] ?? object["classes"] {
                return Answer(label: try labels.label(label), probabilities: nil)
            }
            let probabilities = (first as? [String: Any])?["probabilities"] ?? first
            return labels.answer(probabilities: try labels.probabilities(probabilities))
        }
        return Answer(label: try labels.label(first), probabilities: nil)
    }
}
