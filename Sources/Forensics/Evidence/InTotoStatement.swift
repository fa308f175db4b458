import Engine
import Foundation

/// An in-toto Statement v1: what the attestation is about (subjects named by digest) and a
/// typed predicate. The statement's own keys are in-toto's (`_type`, `predicateType`); the
/// predicate is Tracemark's canonical JSON, so the statement is written by hand around it.
public struct InTotoStatement<Predicate: Codable & Equatable>: Codable, Equatable {
    public static var statementType: String { "https://in-toto.io/Statement/v1" }
    public static var payloadType: String { "application/vnd.in-toto+json" }

    public struct Subject: Codable, Equatable {
        public var name: String
        public var digest: [String: String]
        public init(name: String, sha256: String) {
            self.name = name
            digest = ["sha256": sha256]
        }
    }

    public var _type: String
    public var subject: [Subject]
    public var predicateType: String
    public var predicate: Predicate

    public init(subject: [Subject], predicateType: String, predicate: Predicate) {
        _type = Self.statementType
        self.subject = subject
        self.predicateType = predicateType
        self.predicate = predicate
    }

    /// Canonical bytes: sorted keys (`_type` < `predicate` < `predicateType` < `subject`), no whitespace.
    public func encoded() throws -> Data {
        var bytes = Data(#"{"_type":"#.utf8) + (try CanonicalJSON.encode(_type))
        bytes += Data(#","predicate":"#.utf8) + (try CanonicalJSON.encode(predicate))
        bytes += Data(#","predicateType":"#.utf8) + (try CanonicalJSON.encode(predicateType))
        bytes += Data(#","subject":"#.utf8) + (try CanonicalJSON.encode(subject)) + Data("}".utf8)
        return bytes
    }

    public static func decode(_ data: Data) throws -> Self {
        let statement = try CanonicalJSON.decode(Self.self, from: data)
        guard statement._type == statementType else { throw ForensicsError.invalid("_type: not an in-toto Statement v1") }
        return statement
    }
}
