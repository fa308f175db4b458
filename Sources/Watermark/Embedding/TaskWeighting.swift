import Engine

/// How the task losses are weighted.
public enum TaskWeighting: Equatable, Sendable {
    /// Constant weights per task (ablations).
    case fixed([EmbeddingTask: Double])
    /// MGDA: the min-norm point of the task gradients, re-solved every `interval` steps, with the
    /// utility task's weight kept at `utilityFloor` or more (0 is plain MGDA, which starves the
    /// main task: its gradient is the largest, so the min-norm point gives it the least weight).
    case mgda(interval: Int, normalization: GradientNormalization, groups: MGDAGroups, utilityFloor: Double)
}

/// How task gradients are scaled before MGDA compares them. Unscaled, the task with the smallest
/// gradient takes almost all the weight (the reference PyTorch run collapsed onto the watermark).
public enum GradientNormalization: String, Sendable, CaseIterable {
    /// By the gradient's L2 norm: MGDA then weighs directions only.
    case l2
    /// By the task's loss value (MGDA's "loss" normalisation).
    case loss
    case none
}

/// Which tasks MGDA balances.
public enum MGDAGroups: String, Sendable, CaseIterable {
    /// The paper's Eq. 9: one gradient per task.
    case tasks
    /// The released code: cross-entropy over the whole batch (utility + verification + evasion)
    /// against the combination loss, with the two-task closed form.
    case twoGroups = "two-groups"
}

/// Turns the tasks' logit gradients into one parameter gradient under a `TaskWeighting`. With fixed
/// weights the weighted sum of the logit gradients is back-propagated once. With MGDA, every
/// `interval` steps each task is back-propagated on its own (one extra backward pass per task, the
/// whole cost of MGDA), the min-norm weights are solved from the Gram matrix of those gradients,
/// and the step uses their weighted sum; the steps in between reuse the weights with a single
/// backward pass. Gradients are linear in the logit gradient for a fixed forward pass, so both
/// ways give the same update for the same weights.
final class TaskBalancer {
    let weighting: TaskWeighting
    let tasks: [EmbeddingTask]
    private(set) var weights: [EmbeddingTask: Double]
    private var gradientVectors: [[Float]]
    private let combined = Tensor(shape: [0])

    init(weighting: TaskWeighting, tasks: [EmbeddingTask]) {
        self.weighting = weighting
        self.tasks = tasks
        if case .fixed(let fixed) = weighting {
            weights = Dictionary(uniqueKeysWithValues: tasks.map { ($0, fixed[$0] ?? 0) })
        } else {
            weights = Dictionary(uniqueKeysWithValues: tasks.map { ($0, 1 / Double(tasks.count)) })
        }
        gradientVectors = [[Float]](repeating: [], count: tasks.count)
    }

    /// Leaves the weighted gradient in `network`'s parameter gradients after a forward pass whose
    /// task logit gradients are `gradients`; `step` counts steps over the whole run.
    func backward(_ network: Network, gradients: [EmbeddingTask: Tensor], losses: [EmbeddingTask: Float], step: Int) {
        if case .mgda(let interval, let normalization, let groups, let floor) = weighting, step % interval == 0 {
            weights = solveMGDA(network, gradients: gradients, losses: losses, normalization: normalization, groups: groups, utilityFloor: floor)
            // The step's gradient is the weighted sum of the task gradients just computed.
            var sum = [Float](repeating: 0, count: network.store.count)
            for (k, task) in tasks.enumerated() {
                let w = Float(weights[task]!)
                for i in 0..<sum.count { sum[i] += w * gradientVectors[k][i] }
            }
            network.store.setGradients(sum)
        } else {
            let first = gradients[tasks[0]]!
            combined.reshape(first.shape)
            combined.fill(0)
            for task in tasks {
                let w = Float(weights[task]!), g = gradients[task]!
                for i in 0..<combined.count { combined.data[i] += w * g.data[i] }
            }
            network.store.zeroGradients()
            network.backward(combined)
        }
    }

    /// Back-propagates each task (or group) alone, solves the min-norm weights α on the normalised
    /// gradients, and returns α as the weights of the raw task losses (as Sener & Koltun's released
    /// code does). Dividing α by the norms instead would hand the largest weight to the task with
    /// the smallest gradient, and the main task, whose gradient is largest, would starve.
    private func solveMGDA(_ network: Network, gradients: [EmbeddingTask: Tensor], losses: [EmbeddingTask: Float],
                           normalization: GradientNormalization, groups: MGDAGroups, utilityFloor: Double) -> [EmbeddingTask: Double] {
        for (k, task) in tasks.enumerated() {
            network.store.zeroGradients()
            network.backward(gradients[task]!)
            network.store.copyGradients(into: &gradientVectors[k])
        }
        let vectors = gradientVectors
        // Members of each balanced unit (one per task, or the two groups).
        var units: [[Int]] = tasks.indices.map { [$0] }
        if groups == .twoGroups, let combination = tasks.firstIndex(of: .combination), tasks.count > 1 {
            units = [tasks.indices.filter { $0 != combination }, [combination]]
        }
        let unitVectors: [[Float]] = units.map { members in
            members.count == 1 ? vectors[members[0]]
                : members.dropFirst().reduce(vectors[members[0]]) { sum, k in zip(sum, vectors[k]).map { $0 + $1 } }
        }
        let scales: [Double] = units.indices.map { u in
            switch normalization {
            case .none: return 1
            case .l2: return Swift.max(dot(unitVectors[u], unitVectors[u]).squareRoot(), 1e-12)
            case .loss: return Swift.max(units[u].reduce(0) { $0 + Double(losses[tasks[$1]]!) }, 1e-12)
            }
        }
        let gram = units.indices.map { a in units.indices.map { b in dot(unitVectors[a], unitVectors[b]) / (scales[a] * scales[b]) } }
        let utilityUnit = tasks.firstIndex(of: .utility).flatMap { k in units.firstIndex { $0.contains(k) } }
        let alpha = MinNormSolver.frankWolfe(gram, floor: utilityUnit.flatMap { utilityFloor > 0 ? ($0, utilityFloor) : nil })
        var result = [EmbeddingTask: Double]()
        for (u, members) in units.enumerated() { for k in members { result[tasks[k]] = alpha[u] } }
        return result
    }
}

func dot(_ a: [Float], _ b: [Float]) -> Double {
    var sum: Double = 0
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            var partial: Float = 0
            for i in 0..<x.count {
                partial += x[i] * y[i]
                if i & 1023 == 1023 { sum += Double(partial); partial = 0 }
            }
            sum += Double(partial)
        }
    }
    return sum
}
