/// The number of elements of a tensor or image of `shape`, or nil when the product does not fit
/// in an Int. Shapes read from input are multiplied this way, never wrapped around: a forged
/// `[2^62, 4]` must not come out as the size of the data that is really there.
public func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}
