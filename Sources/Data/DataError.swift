/// What can go wrong reading a data set; every case names the file or folder involved.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(String, hint: String)
    case unreadable(String, reason: String)
    case badMagic(String, found: UInt32, expected: UInt32)
    case badSize(String, reason: String)
    case corruptGzip(String, reason: String)
    case unknownDataset(String)
    case unknownSplit(dataset: String, split: String, available: [String])

    public var description: String {
        switch self {
        case let .missingFile(path, hint):
            return "missing file \(path)" + (hint.isEmpty ? "" : " — \(hint)")
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .badMagic(path, found, expected):
            return "\(path): magic number 0x\(String(found, radix: 16)) is not the expected 0x\(String(expected, radix: 16)) (not an IDX file of this kind?)"
        case let .badSize(path, reason):
            return "\(path): \(reason)"
        case let .corruptGzip(path, reason):
            return "\(path): corrupt gzip data (\(reason))"
        case .unknownDataset(let name):
            return "unknown data set '\(name)'; choose one of: \(DatasetCatalog.names.joined(separator: ", "))"
        case let .unknownSplit(dataset, split, available):
            return "data set '\(dataset)' has no split '\(split)'; choose one of: \(available.joined(separator: ", "))"
        }
    }
}
