/// The index of the largest element; ties go to the first, as in `torch.argmax`.
@inlinable
public func argmax<Values: RandomAccessCollection>(_ values: Values) -> Int where Values.Element: Comparable, Values.Index == Int {
    precondition(!values.isEmpty, "argmax of nothing")
    var best = values.startIndex
    for i in values.indices where values[i] > values[best] { best = i }
    return best - values.startIndex
}
