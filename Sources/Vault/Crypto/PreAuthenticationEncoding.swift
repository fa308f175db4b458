import Foundation

/// DSSE's pre-authentication encoding, `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, with
/// LEN the decimal byte length. Every Tracemark signature covers this encoding, so a signature
/// made for one payload type can never be replayed as another.
public func preAuthenticationEncoding(type: String, body: Data) -> Data {
    let typeBytes = Data(type.utf8)
    var encoded = Data("DSSEv1 \(typeBytes.count) ".utf8)
    encoded.append(typeBytes)
    encoded.append(Data(" \(body.count) ".utf8))
    encoded.append(body)
    return encoded
}
