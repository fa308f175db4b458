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

    public struct InferRequest: Codable, Sendable {
        public var id: String?
        public var inputs: [Tensor]
        public init(id: String?, inputs: [Tensor]) {
            self.id = id
            self.inputs = inputs
        }
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
