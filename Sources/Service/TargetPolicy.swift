import Foundation
import Probe

/// Which hosts the service may probe. Tenants name the URL, so unless the operator allows it
/// the service refuses every address `InternalAddresses` lists: it must not become a way into
/// the operator's own network. This check, when an investigation is opened and again when its
/// probe starts, gives a clear refusal up front; the probe itself checks each address as it
/// connects (`TransportSettings.allowsInternalAddresses`), so a host whose DNS answer changes
/// after this check is refused there.
struct TargetPolicy: Sendable {
    var allowsPrivateAddresses: Bool

    func check(_ target: Target) throws {
        guard !allowsPrivateAddresses else { return }
        let host = target.requestURL.host
        let addresses = InternalAddresses.resolve(host)
        guard !addresses.isEmpty else { throw ServiceError.invalid("target_not_allowed", "\(host) does not resolve") }
        for address in addresses {
            if let range = InternalAddresses.range(containing: address) {
                throw ServiceError.invalid("target_not_allowed", "\(host) resolves to an internal address (\(formatAddress(address)), in \(range.description)); "
                                           + "the operator can allow these with --allow-private-targets")
            }
        }
    }
}
