/// A Float32 buffer with a shape, row-major (images are NCHW).
///
/// Layers own their output and input-gradient tensors and reuse them from step to step:
/// `reshape` only reallocates when the new shape needs more room than the buffer has.
public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int
    /// A view shares another tensor's memory (Flatten) and never frees it.
    private let owner: Tensor?
    /// Set when the data is in a oneDNN layout rather than row-major: only layers on oneDNN pass
    /// such tensors between them, and `Network` hands every other layer row-major ones.
    private(set) var layout: OneDNNLayout?
    /// Floats the data occupies: the element count, or a oneDNN layout's padded size.
    var storageCount: Int { layout?.storageCount ?? count }

    public init(shape: [Int], zeroed: Bool = true) {
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = Swift.max(count, 1)
        data = .allocate(capacity: capacity)
        if zeroed { data.initialize(repeating: 0, count: capacity) }
        owner = nil
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(shape: shape, zeroed: false)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor over `base`'s memory with another shape of the same size.
    public init(viewing base: Tensor, shape: [Int]) {
        precondition(shape.reduce(1, *) == base.count, "view shape \(shape) does not match \(base.shape)")
        precondition(base.layout == nil, "a view of a tensor in a oneDNN layout")
        self.shape = shape
        count = base.count
        capacity = base.count
        data = base.data
        owner = base
    }

    deinit {
        if owner == nil { data.deallocate() }
    }

    /// The leading dimension: the batch size for activations.
    public var batch: Int { shape[0] }
    /// Elements per batch item.
    public var itemCount: Int { shape.count > 1 ? count / shape[0] : 1 }

    /// Gives the tensor a new shape, keeping the buffer when it is large enough. Contents are
    /// unspecified afterwards unless the count is unchanged.
    public func reshape(_ newShape: [Int]) { reshape(newShape, layout: nil) }

    /// Reshapes for data in a oneDNN layout (nil: row-major), with room for its padding.
    func reshape(_ newShape: [Int], layout newLayout: OneDNNLayout?) {
        precondition(owner == nil, "a view cannot be reshaped")
        let newCount = newShape.reduce(1, *)
        let needed = Swift.max(newCount, newLayout?.storageCount ?? 0)
        if needed > capacity {
            data.deallocate()
            capacity = needed
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
        count = newCount
        layout = newLayout
    }

    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
    }

    public var values: [Float] {
        precondition(layout == nil, "the values of a tensor in a oneDNN layout")
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }
}
