import Foundation

/// Losses over logits (B, K). Each returns the mean loss over the rows it covers and, when given a
/// gradient tensor of the logits' shape, *adds* `scale` × dLoss/dlogits into those rows, so several
/// losses over different rows of one batch can share one backward pass.
public enum Loss {
    /// Softmax of `logits[row] / temperature` into `probabilities` (K values); returns log Σ exp.
    @inline(__always)
    static func softmax(_ logits: UnsafePointer<Float>, _ probabilities: UnsafeMutablePointer<Float>, classes: Int,
                        temperature: Float = 1) -> Float {
        var maximum = -Float.infinity
        for k in 0..<classes { maximum = Swift.max(maximum, logits[k] / temperature) }
        var total: Float = 0
        for k in 0..<classes {
            let e = Foundation.exp(logits[k] / temperature - maximum)
            probabilities[k] = e
            total += e
        }
        let inverse = 1 / total
        for k in 0..<classes { probabilities[k] *= inverse }
        return maximum + Foundation.log(total)
    }

    /// Row-wise softmax probabilities of `logits / temperature`, shape (B, K).
    public static func probabilities(_ logits: Tensor, temperature: Float = 1) -> Tensor {
        let result = Tensor(shape: logits.shape)
        let classes = logits.itemCount
        for n in 0..<logits.batch {
            _ = softmax(logits.data + n * classes, result.data + n * classes, classes: classes, temperature: temperature)
        }
        return result
    }

    /// Row-wise log softmax(logits / temperature), shape (B, K): finite where `probabilities`
    /// underflows to 0, so differences of it stay defined.
    public static func logProbabilities(_ logits: Tensor, temperature: Float = 1) -> Tensor {
        let result = Tensor(shape: logits.shape)
        let classes = logits.itemCount
        var scratch = [Float](repeating: 0, count: classes)
        scratch.withUnsafeMutableBufferPointer { p in
            for n in 0..<logits.batch {
                let z = logits.data + n * classes, out = result.data + n * classes
                let logSum = softmax(z, p.baseAddress!, classes: classes, temperature: temperature)
                for k in 0..<classes { out[k] = z[k] / temperature - logSum }
            }
        }
        return result
    }

    /// Cross-entropy with hard labels: mean of −log softmax(z)[y] over `rows`.
    public static func crossEntropy(logits: Tensor, labels: [Int32], rows: Range<Int>? = nil,
                                    gradient: Tensor? = nil, scale: Float = 1) -> Float {
        let rows = rows ?? 0..<logits.batch
        precondition(labels.count == rows.count, "\(labels.count) labels for \(rows.count) rows")
        guard !rows.isEmpty else { return 0 }
        let classes = logits.itemCount
        var probabilities = [Float](repeating: 0, count: classes)
        var total: Double = 0
        let share = scale / Float(rows.count)
        probabilities.withUnsafeMutableBufferPointer { p in
            for (i, n) in rows.enumerated() {
                let label = Int(labels[i])
                precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
                let z = logits.data + n * classes
                let logSum = softmax(z, p.baseAddress!, classes: classes)
                total += Double(logSum - z[label])
                if let gradient {
                    let g = gradient.data + n * classes
                    for k in 0..<classes { g[k] += share * (p[k] - (k == label ? 1 : 0)) }
                }
            }
        }
        return Float(total / Double(rows.count))
    }

    /// Cross-entropy against soft targets at a temperature (distillation):
    /// mean of −Σ_k t_k log softmax(z/T)_k, with targets (B, K) probabilities for `rows`.
    public static func softCrossEntropy(logits: Tensor, targets: Tensor, temperature: Float = 1, rows: Range<Int>? = nil,
                                        gradient: Tensor? = nil, scale: Float = 1) -> Float {
        let rows = rows ?? 0..<logits.batch
        precondition(targets.batch == rows.count && targets.itemCount == logits.itemCount, "targets do not match the rows")
        guard !rows.isEmpty else { return 0 }
        let classes = logits.itemCount
        var probabilities = [Float](repeating: 0, count: classes)
        var total: Double = 0
        let share = scale / (Float(rows.count) * temperature)
        probabilities.withUnsafeMutableBufferPointer { p in
            for (i, n) in rows.enumerated() {
                let z = logits.data + n * classes, t = targets.data + i * classes
                let logSum = softmax(z, p.baseAddress!, classes: classes, temperature: temperature)
                for k in 0..<classes where t[k] > 0 { total -= Double(t[k] * (z[k] / temperature - logSum)) }
                if let gradient {
                    let g = gradient.data + n * classes
                    for k in 0..<classes { g[k] += share * (p[k] - t[k]) }
                }
            }
        }
        return Float(total / Double(rows.count))
    }

    /// KL(P ‖ Q) with P = softmax(p-logits row), Q = softmax(q-logits row), averaged over paired
    /// rows. Gradients: ∂/∂p_k = P_k (log P_k − log Q_k − KL), ∂/∂q_k = Q_k − P_k. Pass only
    /// `gradientP` to treat Q as a constant (MEA-Defender's combination loss does); `scaleQ`
    /// further scales Q's gradient (a partial pull of Q towards P).
    public static func klDivergence(p: Tensor, pRows: Range<Int>, q: Tensor, qRows: Range<Int>,
                                    gradientP: Tensor? = nil, gradientQ: Tensor? = nil, scale: Float = 1,
                                    scaleQ: Float = 1) -> Float {
        precondition(pRows.count == qRows.count && p.itemCount == q.itemCount, "KL needs paired rows of equal width")
        guard !pRows.isEmpty else { return 0 }
        let classes = p.itemCount
        var pp = [Float](repeating: 0, count: classes), qq = [Float](repeating: 0, count: classes)
        var total: Double = 0
        let share = scale / Float(pRows.count)
        pp.withUnsafeMutableBufferPointer { pb in
            qq.withUnsafeMutableBufferPointer { qb in
                let P = pb.baseAddress!, Q = qb.baseAddress!
                for (pn, qn) in zip(pRows, qRows) {
                    let zp = p.data + pn * classes, zq = q.data + qn * classes
                    let logSumP = softmax(zp, P, classes: classes), logSumQ = softmax(zq, Q, classes: classes)
                    // log P_k − log Q_k from the logits directly, which stays finite when P_k underflows.
                    var kl: Float = 0
                    for k in 0..<classes { kl += P[k] * ((zp[k] - logSumP) - (zq[k] - logSumQ)) }
                    total += Double(kl)
                    if let gradientP {
                        let g = gradientP.data + pn * classes
                        for k in 0..<classes { g[k] += share * P[k] * ((zp[k] - logSumP) - (zq[k] - logSumQ) - kl) }
                    }
                    if let gradientQ {
                        let g = gradientQ.data + qn * classes
                        for k in 0..<classes { g[k] += share * scaleQ * (Q[k] - P[k]) }
                    }
                }
            }
        }
        return Float(total / Double(pRows.count))
    }

    /// Mean over items of the summed squared error ½‖output − target‖², so that the gradient is
    /// simply (output − target) / batch; written into `gradient` (overwritten) when given.
    public static func squaredError(output: Tensor, target: UnsafePointer<Float>, gradient: Tensor? = nil) -> Float {
        let batch = output.batch, share = 1 / Float(batch)
        var total: Double = 0
        for i in 0..<output.count {
            let difference = output.data[i] - target[i]
            total += Double(difference * difference)
            if let gradient { gradient.data[i] = share * difference }
        }
        return Float(total / 2 / Double(batch))
    }
}
