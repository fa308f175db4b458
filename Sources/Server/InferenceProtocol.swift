import Engine
import Foundation

/// The Open Inference Protocol v2 (KServe, Triton, Seldon) JSON shapes Tracemark speaks, on both
/// sides: the model server decodes requests and encodes responses; the probe does the reverse.
public enum InferenceProtocol {
    public struct Tensor: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var datatype: String
        /// Row-major values; nested arrays in a request are flattened when decoded.
        public var data: FlatNumbers

        public init(name: String, shape: [Int], datatype: String, data: [Double]) {
            self.name = name
            self.shape = shape
            self.datatype = datatype
            self.data = FlatNumbers(values: data)
        }
    }

    /// What the model server accepts: one FP32 input whose shape multiplies out, without
    /// overflow, to the number of values sent (so no size computed from a request can exceed
    /// what the body held).
    public struct InferRequest: Codable, Sendable {
        public let id: String?
        public let inputs: [Tensor]

        /// Deep enough for (B, C, H, W) and the nesting `FlatNumbers` takes.
        public static let largestRank = 8

        public init(id: String?, inputs: [Tensor]) throws {
            guard inputs.count == 1, let input = inputs.first else {
                throw InvalidRequest("expected exactly one input tensor, got \(inputs.count)")
            }
            guard input.datatype == "FP32" else { throw InvalidRequest("input datatype must be FP32, got \(input.datatype.prefix(40))") }
            guard (1...Self.largestRank).contains(input.shape.count), input.shape.allSatisfy({ $0 >= 1 }) else {
                throw InvalidRequest("input shape \(input.shape.prefix(Self.largestRank + 1)) must have 1–\(Self.largestRank) dimensions of at least 1")
            }
            guard let count = elementCount(input.shape) else { throw InvalidRequest("input shape \(input.shape) multiplies out past \(Int.max) values") }
            guard input.data.values.count == count else {
                throw InvalidRequest("input shape \(input.shape) needs \(count) values, got \(input.data.values.count)")
            }
            self.id = id
            self.inputs = inputs
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let id = try container.decodeIfPresent(String.self, forKey: .id), inputs = try container.decode([Tensor].self, forKey: .inputs)
            self = try decoder.validated { try InferRequest(id: id, inputs: inputs) }
        }
    }

    /// A request the server refuses, in words.
    public struct InvalidRequest: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public struct InferResponse: Codable, Sendable {
        public var modelName: String
        public var id: String?
        public var outputs: [Tensor]
        public init(modelName: String, id: String?, outputs: [Tensor]) {
            self.modelName = modelName
            self.id = id
            self.outputs = outputs
        }
        enum CodingKeys: String, CodingKey { case modelName = "model_name", id, outputs }
    }

    public struct TensorMetadata: Codable, Sendable {
        public var name: String
        public var datatype: String
        public var shape: [Int]
    }

    public struct ModelMetadata: Codable, Sendable {
        public var name: String
        public var versions: [String]
        public var platform: String
        public var inputs: [TensorMetadata]
        public var outputs: [TensorMetadata]
    }
}

/// Numbers that may arrive flat (`[1, 2, 3, 4]`) or nested (`[[1, 2], [3, 4]]`); kept flat, row-major.
public struct FlatNumbers: Codable, Equatable, Sendable {
    public var values: [Double]

    public init(values: [Double]) { self.values = values }

    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var values: [Double] = []
        try Self.flatten(&container, into: &values, depth: 0)
        self.values = values
    }

    private static func flatten(_ container: inout UnkeyedDecodingContainer, into values: inout [Double], depth: Int) throws {
        guard depth < 8 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "tensor data nested deeper than 8 levels")
        }
        while !container.isAtEnd {
            if let number = try? container.decode(Double.self) {
                // The model takes Float: a Double beyond Float's range (3e39) would become an
                // infinity there.
                guard Float(number).isFinite else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "value \(number) is not a finite single-precision number")
                }
                values.append(number)
            } else {
                var inner = try container.nestedUnkeyedContainer()
                try flatten(&inner, into: &values, depth: depth + 1)
            }
        }
    }

    /// Values that are exactly single-precision floats are written in Float's shorter form
    /// (`0.1`, not `0.10000000149011612`); they read back to the same Float.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        for value in values {
            if let single = Float(exactly: value) { try container.encode(single) } else { try container.encode(value) }
        }
    }
}
