/// A named tensor of a layer: a trainable weight (with a gradient) or a state buffer such as
/// BatchNorm's running mean (saved in checkpoints, never touched by an optimizer).
public final class Parameter {
    public enum Kind { case trainable, buffer }

    public let shape: [Int]
    public let kind: Kind
    public let count: Int
    public private(set) var value: UnsafeMutablePointer<Float>
    public private(set) var gradient: UnsafeMutablePointer<Float>
    private var ownsStorage = true

    init(shape: [Int], kind: Kind = .trainable, initial: [Float]) {
        self.shape = shape
        self.kind = kind
        count = shape.reduce(1, *)
        precondition(initial.count == count, "\(initial.count) initial values for shape \(shape)")
        value = .allocate(capacity: count)
        value.initialize(from: initial, count: count)
        gradient = .allocate(capacity: count)
        gradient.initialize(repeating: 0, count: count)
    }

    deinit {
        if ownsStorage {
            value.deallocate()
            gradient.deallocate()
        }
    }

    /// Moves the values into a slot of a `ParameterStore`'s flat buffers.
    func rehome(value newValue: UnsafeMutablePointer<Float>, gradient newGradient: UnsafeMutablePointer<Float>) {
        newValue.update(from: value, count: count)
        newGradient.update(from: gradient, count: count)
        if ownsStorage {
            value.deallocate()
            gradient.deallocate()
        }
        value = newValue
        gradient = newGradient
        ownsStorage = false
    }

    public var values: [Float] { Array(UnsafeBufferPointer(start: value, count: count)) }
    public var gradientValues: [Float] { Array(UnsafeBufferPointer(start: gradient, count: count)) }

    public func load(_ newValues: UnsafeBufferPointer<Float>) {
        precondition(newValues.count == count)
        value.update(from: newValues.baseAddress!, count: count)
    }
}

/// All trainable parameters of a network laid end to end in one flat value buffer and one flat
/// gradient buffer, so an optimizer step is one loop and a per-loss gradient (MGDA) is one copy.
public final class ParameterStore {
    public let parameters: [Parameter]
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>

    init(_ trainable: [Parameter]) {
        parameters = trainable
        count = trainable.reduce(0) { $0 + $1.count }
        values = .allocate(capacity: Swift.max(count, 1))
        gradients = .allocate(capacity: Swift.max(count, 1))
        var offset = 0
        for parameter in trainable {
            parameter.rehome(value: values + offset, gradient: gradients + offset)
            offset += parameter.count
        }
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    public func zeroGradients() {
        gradients.update(repeating: 0, count: count)
    }

    /// Copies the current gradient of every parameter into `buffer` (length `count`).
    public func copyGradients(into buffer: inout [Float]) {
        if buffer.count != count { buffer = [Float](repeating: 0, count: count) }
        buffer.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: gradients, count: count) }
    }

    public func setGradients(_ buffer: [Float]) {
        precondition(buffer.count == count)
        buffer.withUnsafeBufferPointer { gradients.update(from: $0.baseAddress!, count: count) }
    }
}
