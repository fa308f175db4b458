/// The index of the largest element; ties go to the first, as in `torch.argmax`.
@inlinable
public func argmax<Values: RandomAccessCollection>(_ values: Values) -> Int where Values.Element: Comparable, Values.Index == Int {
    precondition(!values.isEmpty, "argmax of nothing")
    var best = values.startIndex
    for i in values.indices where values[i] > values[best] { best = i }
    return best - values.startIndex
}

extension Tensor {
    /// The top-1 index of each of the first `rows` rows (all by default) of (B, K) scores.
    public func rowArgmax(rows: Int? = nil) -> [Int32] {
        let classes = itemCount
        return (0..<(rows ?? batch)).map { n in Int32(argmax(UnsafeBufferPointer(start: data + n * classes, count: classes))) }
    }
}
