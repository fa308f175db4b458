import Foundation

/// Open Inference Protocol v2 (KServe, Triton, Seldon, `tracemark serve`):
/// `POST {url}/v2/models/{model}/infer` with one FP32 input tensor of shape [1, C, H, W]
/// (or [1, C·H·W] with layout `flat`); the answer is the `probabilities` output (or any FP32
/// output of our class count), else `label`, else the first of `topk_labels`.
struct OpenInferenceAdapter: ProbeAdapter {
    let endpoint: Endpoint
    let encoding: InputEncoding
    let labels: LabelReader

    static func path(model: String) -> String { "/v2/models/\(model)/infer" }

    func request(for image: [Float], queryID: Int) throws -> OutgoingRequest {
        let (values, shape) = encoding.laidOut(image)
        return endpoint.post(contentType: "application/json", body: Self.inferenceBody(values, shape: [1] + shape, id: "\(queryID)"))
    }

    /// An infer request with one FP32 input tensor `images` of `shape`, its data flat.
    static func inferenceBody(_ values: [Double], shape: [Int], id: String?) -> Data {
        var body = Array((id.map { #"{"id":"\#($0)","# } ?? "{").utf8) + Array(#""inputs":[{"name":"images","shape":"#.utf8)
        body += JSONText.nested(shape.map(Double.init), shape: [shape.count])
        body += Array(#","datatype":"FP32","data":"#.utf8)
        body += JSONText.nested(values, shape: [values.count])
        body += Array("}]}".utf8)
        return Data(body)
    }

    func answer(from body: Data) throws -> Answer {
        guard let outputs = (try parseJSON(body) as? [String: Any])?["outputs"] as? [[String: Any]], !outputs.isEmpty else {
            throw ProbeError.malformed("no outputs")
        }
        func data(_ output: [String: Any]) -> [Any]? { (output["data"] as? [Any]).map(flatten) }
        let classes = labels.classNames.count
        if let output = outputs.first(where: { $0["name"] as? String == "probabilities" })
            ?? outputs.first(where: { $0["datatype"] as? String == "FP32" && data($0)?.count == classes }),
           let values = data(output) {
            return labels.answer(probabilities: try labels.probabilities(values))
        }
        if let output = outputs.first(where: { ["label", "topk_labels"].contains($0["name"] as? String) }),
           let first = data(output)?.first {
            return Answer(label: try labels.label(first), probabilities: nil)
        }
        throw ProbeError.malformed("no probabilities or label output")
    }

    private func flatten(_ values: [Any]) -> [Any] {
        values.flatMap { ($0 as? [Any]).map(flatten) ?? [$0] }
    }
}
