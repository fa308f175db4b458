/// MGDA's weighting: the point of minimum norm in the convex hull of the task gradients,
/// min ‖Σ αₖ gₖ‖² subject to αₖ ≥ 0, Σ αₖ = 1 (Sener & Koltun, "Multi-Task Learning as
/// Multi-Objective Optimization"). Its negative is a direction along which no task's loss rises.
/// Everything works on the Gram matrix Gₖₗ = gₖ·gₗ, so a step costs O(tasks²) after the dot products.
public enum MinNormSolver {
    /// Closed form for two gradients: α = clamp((g₂·g₂ − g₁·g₂) / ‖g₁ − g₂‖², 0, 1) on g₁.
    public static func twoTask(_ gram: [[Double]]) -> [Double] {
        let (a, b, c) = (gram[0][0], gram[0][1], gram[1][1])
        let denominator = a - 2 * b + c
        guard denominator > 1e-20 else { return [0.5, 0.5] }
        let alpha = Swift.min(Swift.max((c - b) / denominator, 0), 1)
        return [alpha, 1 - alpha]
    }

    /// Frank–Wolfe on the simplex: start at the uniform weights, move towards the vertex with the
    /// smallest directional derivative by the exact line-search step, until the step is below
    /// `tolerance`. With a `floor` (task index, share ρ) the weights are ρ·e_task + (1 − ρ)·β with β
    /// on the simplex: the min-norm point of the hull shrunk towards that task's gradient.
    public static func frankWolfe(_ gram: [[Double]], floor: (task: Int, share: Double)? = nil,
                                  iterations: Int = 250, tolerance: Double = 1e-6) -> [Double] {
        let n = gram.count
        precondition(n > 0 && gram.allSatisfy { $0.count == n }, "the Gram matrix must be square")
        if n == 1 { return [1] }
        if n == 2 && floor == nil { return twoTask(gram) }
        let fixed = floor.map { f in (0..<n).map { $0 == f.task ? f.share : 0 } } ?? [Double](repeating: 0, count: n)
        let free = 1 - (floor?.share ?? 0)
        var beta = [Double](repeating: 1 / Double(n), count: n)
        func weights(_ b: [Double]) -> [Double] { (0..<n).map { fixed[$0] + free * b[$0] } }
        func times(_ v: [Double]) -> [Double] { (0..<n).map { k in (0..<n).reduce(0) { $0 + gram[k][$1] * v[$1] } } }
        for _ in 0..<iterations {
            let alpha = weights(beta), product = times(alpha)
            let vertex = product.indices.min { product[$0] < product[$1] }!
            // Direction towards the vertex and the exact minimiser of the quadratic along it.
            let direction = (0..<n).map { free * (($0 == vertex ? 1 : 0) - beta[$0]) }
            let slope = zip(direction, product).reduce(0) { $0 + $1.0 * $1.1 }
            let curvature = zip(direction, times(direction)).reduce(0) { $0 + $1.0 * $1.1 }
            guard slope < 0, curvature > 1e-20 else { break }
            let step = Swift.min(-slope / curvature, 1)
            if step < tolerance { break }
            for k in 0..<n { beta[k] = (1 - step) * beta[k] + (k == vertex ? step : 0) }
        }
        return weights(beta)
    }
}
