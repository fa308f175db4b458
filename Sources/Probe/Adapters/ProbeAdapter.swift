import Engine
import Foundation

/// What the suspect answered for one image: its top-1 label in our class numbering and, when
/// the API reveals them, the probabilities.
public struct Answer: Codable, Equatable, Sendable {
    public var label: Int
    public var probabilities: [Double]?

    public init(label: Int, probabilities: [Double]?) {
        self.label = label
        self.probabilities = probabilities
    }
}

/// One serving protocol: how to ask about one image, and how to read the answer.
public protocol ProbeAdapter: Sendable {
    func request(for image: [Float], queryID: Int) throws -> OutgoingRequest
    /// Throws `ProbeError.malformed` when the body is not the answer this protocol promises.
    func answer(from body: Data) throws -> Answer
}

/// Everything an adapter needs to know about the images and the classes.
public struct ProbeContext: Sendable {
    /// (C, H, W) of one image, pixels in [0, 1].
    public var itemShape: [Int]
    public var classNames: [String]
    public var headers: [String]

    public init(itemShape: [Int], classNames: [String], headers: [String]) {
        self.itemShape = itemShape
        self.classNames = classNames
        self.headers = headers
    }
}

/// The adapter for a target's protocol, every request to `target.requestURL`.
public func makeAdapter(for target: Target, context: ProbeContext) throws -> ProbeAdapter {
    let endpoint = Endpoint(url: target.requestURL, headers: context.headers)
    let labels = try LabelReader(classNames: context.classNames, labelMap: target.labelMap)
    switch target.protocol {
    case .openInferenceV2:
        return OpenInferenceAdapter(endpoint: endpoint, encoding: try InputEncoding(target.input, itemShape: context.itemShape), labels: labels)
    case .tfServing:
        return TFServingAdapter(endpoint: endpoint, encoding: try InputEncoding(target.input, itemShape: context.itemShape, defaultLayout: .nhwc),
                                labels: labels)
    case .torchServe:
        return TorchServeAdapter(endpoint: endpoint, encoding: try InputEncoding(target.input, itemShape: context.itemShape, defaultEncoding: .png),
                                 labels: labels)
    case .template:
        return TemplateAdapter(endpoint: endpoint, template: target.template!, encoding: try InputEncoding(target.input, itemShape: context.itemShape),
                               labels: labels)
    }
}

/// The one URL an adapter posts to and the headers every request carries (auth).
struct Endpoint: Sendable {
    let url: RequestURL
    let headers: [String]

    func post(contentType: String, body: Data) -> OutgoingRequest {
        OutgoingRequest(url: url, headers: headers + ["Content-Type: \(contentType)"], body: body)
    }
}

/// Pixels in [0, 1] to the API's numbers: `(pixel·scale − mean[c]) / std[c]`, laid out as asked.
struct InputEncoding: Sendable {
    let encoding: Target.Input.Encoding
    let layout: Target.Input.Layout
    let scale: Double
    let mean: [Double]
    let std: [Double]
    let itemShape: [Int]

    /// What the target asks for, else the protocol's usual encoding and layout. `mean` and `std`
    /// must hold one value or one per channel of `itemShape`'s (C, H, W).
    init(_ input: Target.Input?, itemShape: [Int], defaultEncoding: Target.Input.Encoding = .tensor,
         defaultLayout: Target.Input.Layout = .nchw) throws {
        encoding = input?.encoding ?? defaultEncoding
        layout = input?.layout ?? defaultLayout
        scale = input?.scale ?? 1
        mean = input?.mean ?? [0]
        std = input?.std ?? [1]
        self.itemShape = itemShape
        for (key, values) in [("mean", mean), ("std", std)] where values.count != 1 && values.count != itemShape[0] {
            throw ProbeError.badTarget("input.\(key) has \(values.count) values; the images have \(itemShape[0]) channels, so give 1 or \(itemShape[0])")
        }
    }

    /// The values in channel-major order, normalised.
    func values(_ image: [Float]) -> [Double] {
        let (channels, plane) = (itemShape[0], itemShape[1] * itemShape[2])
        return image.enumerated().map { index, pixel in
            let c = min(index / plane, channels - 1)
            return (Double(pixel) * scale - mean[min(c, mean.count - 1)]) / std[min(c, std.count - 1)]
        }
    }

    /// The values in the layout's order with the layout's shape for one image: (C, H, W),
    /// (H, W, C) or (C·H·W).
    func laidOut(_ image: [Float]) -> (values: [Double], shape: [Int]) {
        let values = values(image)
        let (channels, height, width) = (itemShape[0], itemShape[1], itemShape[2])
        switch layout {
        case .flat: return (values, [values.count])
        case .nchw: return (values, itemShape)
        case .nhwc:
            var reordered = [Double]()
            reordered.reserveCapacity(values.count)
            for y in 0..<height { for x in 0..<width { for c in 0..<channels { reordered.append(values[(c * height + y) * width + x]) } } }
            return (reordered, [height, width, channels])
        }
    }

    /// One image as JSON text: nested arrays in the layout (`flat` is one list).
    func json(_ image: [Float]) -> String {
        let (values, shape) = laidOut(image)
        return String(decoding: JSONText.nested(values, shape: shape), as: UTF8.self)
    }

    func png(_ image: [Float]) -> Data { PNG.encode(image, channels: itemShape[0], height: itemShape[1], width: itemShape[2]) }
}

/// Reads labels in the suspect's vocabulary into our class numbers.
struct LabelReader: Sendable {
    let classNames: [String]
    let labelMap: [String: Int]?

    init(classNames: [String], labelMap: [String: Int]?) throws {
        if let outside = labelMap?.sorted(by: { $0.key < $1.key }).first(where: { !classNames.indices.contains($0.value) }) {
            throw ProbeError.badTarget("label_map maps \(outside.key.debugDescription) to \(outside.value), which is not a class index 0–\(classNames.count - 1)")
        }
        self.classNames = classNames
        self.labelMap = labelMap
    }

    /// A number (an index) or a name: the label map first, then our class names, then a numeric string.
    func label(_ value: Any) throws -> Int {
        // (Foundation on Linux reads 0 and 1 as NSNumbers that also cast to Bool, so booleans are
        // not singled out.)
        if let number = value as? NSNumber {
            let index = number.intValue
            guard Double(index) == number.doubleValue, classNames.indices.contains(index) else {
                throw ProbeError.malformed("label \(number) is not a class index 0–\(classNames.count - 1)")
            }
            return index
        }
        guard let name = value as? String else { throw ProbeError.malformed("label is neither a number nor a name") }
        if let mapped = labelMap?[name] {
            guard classNames.indices.contains(mapped) else { throw ProbeError.malformed("label_map maps \(name.debugDescription) outside the class indices") }
            return mapped
        }
        if let index = classNames.firstIndex(of: name) { return index }
        if let index = Int(name), classNames.indices.contains(index) { return index }
        throw ProbeError.malformed("unknown label '\(name)' (add it to label_map)")
    }

    /// A probability vector of our class count, or a label → probability object.
    func probabilities(_ value: Any) throws -> [Double] {
        if let list = value as? [Any] {
            let numbers = list.compactMap { ($0 as? NSNumber).map { $0.doubleValue } }
            guard numbers.count == list.count, numbers.count == classNames.count, numbers.allSatisfy({ $0.isFinite }) else {
                throw ProbeError.malformed("expected \(classNames.count) probabilities, got \(list.count) values")
            }
            return numbers
        }
        if let object = value as? [String: Any] {
            var vector = [Double](repeating: 0, count: classNames.count)
            for (name, probability) in object {
                guard let p = (probability as? NSNumber)?.doubleValue, p.isFinite else { throw ProbeError.malformed("probability of '\(name)' is not a number") }
                vector[try label(name)] = p
            }
            return vector
        }
        throw ProbeError.malformed("probabilities are neither a list nor a label → probability object")
    }

    func answer(probabilities: [Double]) -> Answer { Answer(label: argmax(probabilities), probabilities: probabilities) }
}

/// Parses a JSON body, or says it is not JSON (truncated, HTML error page, …).
func parseJSON(_ body: Data) throws -> Any {
    do { return try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) } catch {
        throw ProbeError.malformed("not JSON (\(body.count) bytes)")
    }
}

/// `a.b.0.c` into nested objects and arrays.
func value(at path: String, in root: Any) throws -> Any {
    var current = root
    for key in path.split(separator: ".").map(String.init) {
        if let index = Int(key), let list = current as? [Any] {
            guard list.indices.contains(index) else { throw ProbeError.malformed("\(path): index \(index) out of range") }
            current = list[index]
        } else if let object = current as? [String: Any], let next = object[key] {
            current = next
        } else {
            throw ProbeError.malformed("\(path): no '\(key)'")
        }
    }
    return current
}

/// JSON text for numbers, written by hand into bytes: Foundation's JSONSerialization boxes
/// every number, and appending to a String checks capacity per piece; together they cost the
/// probe most of its CPU time.
enum JSONText {
    /// A finite number: in Float's shorter form when it is exactly a Float (`0.25`, `63.75`),
    /// integral values without a fraction.
    static func append(_ value: Double, to bytes: inout [UInt8]) {
        precondition(value.isFinite, "JSON has no non-finite numbers")
        if let single = Float(exactly: value) {
            if single == single.rounded() && abs(single) < 1e7 { bytes.append(contentsOf: String(Int(single)).utf8) } else {
                bytes.append(contentsOf: single.description.utf8)
            }
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    /// Row-major `values` as nested arrays of `shape`.
    static func nested(_ values: [Double], shape: [Int]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 12 + 16)
        var index = 0
        func write(_ dimension: Int) {
            bytes.append(UInt8(ascii: "["))
            for i in 0..<shape[dimension] {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                if dimension == shape.count - 1 {
                    append(values[index], to: &bytes)
                    index += 1
                } else {
                    write(dimension + 1)
                }
            }
            bytes.append(UInt8(ascii: "]"))
        }
        write(0)
        return bytes
    }
}
