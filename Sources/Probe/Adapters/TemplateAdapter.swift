import Foundation

/// Any JSON API: the target's body template with `{{input}}`, `{{input_png_base64}}` and `{{id}}`
/// filled in, posted to `url + path` (checked as one URL, see `RequestURL`); the answer read at
/// `probabilities_path` or `label_path`.
struct TemplateAdapter: ProbeAdapter {
    let endpoint: Endpoint
    let template: Target.Template
    let encoding: InputEncoding
    let labels: LabelReader

    func request(for image: [Float], queryID: Int) throws -> OutgoingRequest {
        var body = template.body.replacingOccurrences(of: "{{id}}", with: String(queryID))
        if body.contains("{{input}}") {
            body = body.replacingOccurrences(of: "{{input}}", with: encoding.json(image))
        }
        if body.contains("{{input_png_base64}}") {
            body = body.replacingOccurrences(of: "{{input_png_base64}}", with: encoding.png(image).base64EncodedString())
        }
        return endpoint.post(contentType: template.contentType ?? "application/json", body: Data(body.utf8))
    }

    func answer(from body: Data) throws -> Answer {
        let root = try parseJSON(body)
        if let path = template.probabilitiesPath {
            return labels.answer(probabilities: try labels.probabilities(try value(at: path, in: root)))
        }
        return Answer(label: try labels.label(try value(at: template.labelPath!, in: root)), probabilities: nil)
    }
}
