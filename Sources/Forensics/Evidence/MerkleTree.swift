import Engine
import Foundation

/// The Merkle tree hash of RFC 6962 (Certificate Transparency) over a list of byte strings:
/// leaves are SHA-256(0x00 ‖ item), inner nodes SHA-256(0x01 ‖ left ‖ right), split at the
/// largest power of two below the count. A report commits to its transcript's lines this way,
/// so one line can later be proven part of it without disclosing the others.
public enum MerkleTree {
    public static func root(of items: [Data]) -> String {
        hex(rootHash(items.map { sha256(Data([0]) + $0) }[...]))
    }

    private static func rootHash(_ leaves: ArraySlice<Data>) -> Data {
        if leaves.isEmpty { return sha256(Data()) }
        if leaves.count == 1 { return leaves.first! }
        var split = 1
        while split * 2 < leaves.count { split *= 2 }
        let middle = leaves.startIndex + split
        return sha256(Data([1]) + rootHash(leaves[..<middle]) + rootHash(leaves[middle...]))
    }
}
