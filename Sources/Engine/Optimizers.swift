import Foundation

/// Updates a network's flat parameter store from its flat gradients.
public protocol Optimizer: AnyObject {
    func step(_ store: ParameterStore, learningRate: Float)
}

/// Stochastic gradient descent with PyTorch's semantics: g ← g + λw; v ← μv + g;
/// update with v, or with g + μv (Nesterov).
public final class SGD: Optimizer {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private var velocity: [Float] = []

    public init(momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        precondition(!nesterov || momentum > 0, "Nesterov momentum needs a momentum above zero")
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public func step(_ store: ParameterStore, learningRate: Float) {
        if velocity.count != store.count { velocity = [Float](repeating: 0, count: store.count) }
        let w = store.values, g = store.gradients
        let mu = momentum, decay = weightDecay, nesterov = nesterov
        velocity.withUnsafeMutableBufferPointer { vb in
            let v = vb.baseAddress!
            Parallel.chunks(store.count) { range, _ in
                for i in range {
                    var gradient = g[i] + decay * w[i]
                    if mu != 0 {
                        v[i] = mu * v[i] + gradient
                        gradient = nesterov ? gradient + mu * v[i] : v[i]
                    }
                    w[i] -= learningRate * gradient
                }
            }
        }
    }
}

/// Adam (Kingma & Ba) with bias correction. `decoupled` makes it AdamW: the weight decay shrinks
/// the weights directly instead of entering the gradient.
public final class Adam: Optimizer {
    public let beta1, beta2, epsilon, weightDecay: Float
    public let decoupled: Bool
    private var firstMoment: [Float] = []
    private var secondMoment: [Float] = []
    private var steps = 0

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    public func step(_ store: ParameterStore, learningRate: Float) {
        if firstMoment.count != store.count {
            firstMoment = [Float](repeating: 0, count: store.count)
            secondMoment = [Float](repeating: 0, count: store.count)
            steps = 0
        }
        steps += 1
        let w = store.values, g = store.gradients
        let b1 = beta1, b2 = beta2, eps = epsilon, decay = weightDecay, decoupled = decoupled
        let correction1 = 1 - pow(b1, Float(steps)), correction2 = 1 - pow(b2, Float(steps))
        firstMoment.withUnsafeMutableBufferPointer { mb in
            secondMoment.withUnsafeMutableBufferPointer { vb in
                let m = mb.baseAddress!, v = vb.baseAddress!
                Parallel.chunks(store.count) { range, _ in
                    for i in range {
                        var gradient = g[i]
                        if decoupled { w[i] -= learningRate * decay * w[i] } else { gradient += decay * w[i] }
                        m[i] = b1 * m[i] + (1 - b1) * gradient
                        v[i] = b2 * v[i] + (1 - b2) * gradient * gradient
                        let mHat = m[i] / correction1, vHat = v[i] / correction2
                        w[i] -= learningRate * mHat / (vHat.squareRoot() + eps)
                    }
                }
            }
        }
    }
}
