import CDNNL

/// A batch norm's oneDNN primitives for one batch size and input layout: the forward and backward
/// with the batch's statistics (training) and with the running ones (evaluation), the ReLU after
/// it fused in when `Network` planned that. The data stays in the input's layout (usually the
/// blocked one the convolution before left); the output leaves in it when the next layer takes
/// oneDNN layouts, else in NCHW.
final class OneDNNBatchNorm: OneDNNPlan {
    let batch: Int
    let inputLayout: dnnl_memory_desc_t
    let keepsLayout: Bool
    let outputLayout: OneDNNLayout?
    private let training, evaluation: Mode
    private let source: DNNLMemory
    private let destination, outputGradient: StagedMemory
    private let inputGradient: DNNLMemory
    private let scale, shift, diffScale, diffShift: DNNLMemory
    private let batchMean, batchVariance, runningMean, runningVariance: DNNLMemory
    private let channels: Int
    /// Elements per channel in the batch (B·H·W), for the unbiased running variance.
    private let perChannel: Int

    /// A forward (always oneDNN's "training" kind: it keeps the ReLU mask in the workspace, which
    /// input gradients of a model in evaluation mode need too) and its backward.
    private struct Mode {
        let forward, backward: DNNLPrimitive
        let workspace: DNNLMemory?
    }

    init(channels: Int, batch: Int, inputShape: [Int], inputLayout: dnnl_memory_desc_t, keepsLayout: Bool,
         epsilon: Float, fusesReLU: Bool) throws {
        self.batch = batch
        self.inputLayout = inputLayout
        self.keepsLayout = keepsLayout
        self.channels = channels
        perChannel = batch * inputShape[1] * inputShape[2]
        let shape = [batch] + inputShape
        var data = inputLayout
        func mode(_ extra: dnnl_normalization_flags_t) throws -> Mode {
            var flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | extra.rawValue
            if fusesReLU { flags |= dnnl_fuse_norm_relu.rawValue }
            var forwardOperation = dnnl_batch_normalization_desc_t()
            try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&forwardOperation, dnnl_forward_training, &data, epsilon, flags),
                          "batch_normalization_forward_desc_init")
            let forward = try DNNLPrimitive(&forwardOperation)
            var backwardOperation = dnnl_batch_normalization_desc_t()
            try dnnlCheck(dnnl_batch_normalization_backward_desc_init(&backwardOperation, dnnl_backward, &data, &data, epsilon, flags),
                          "batch_normalization_backward_desc_init")
            let backward = try DNNLPrimitive(&backwardOperation, hint: forward)
            let workspace = fusesReLU ? try DNNLMemory(forward.layout(dnnl_query_workspace_md), owned: true) : nil
            return Mode(forward: forward, backward: backward, workspace: workspace)
        }
        training = try mode(dnnl_normalization_flags_t(rawValue: 0))
        evaluation = try mode(dnnl_use_global_stats)

        outputLayout = leavingLayout(inputLayout, shape: shape, keeps: keepsLayout)
        let outside = outputLayout?.descriptor ?? plainDescriptor(shape)
        source = try DNNLMemory(inputLayout, owned: false)
        destination = try StagedMemory(outside: outside, inside: inputLayout)
        outputGradient = try StagedMemory(outside: outside, inside: inputLayout)
        inputGradient = try DNNLMemory(inputLayout, owned: false)
        let perChannelDescriptor = try memoryDescriptor { tm_dnnl_memory_desc_1d($0, Int64(channels), dnnl_f32) }
        scale = try DNNLMemory(perChannelDescriptor, owned: false)
        shift = try DNNLMemory(perChannelDescriptor, owned: false)
        runningMean = try DNNLMemory(perChannelDescriptor, owned: false)
        runningVariance = try DNNLMemory(perChannelDescriptor, owned: false)
        diffScale = try DNNLMemory(perChannelDescriptor, owned: true)
        diffShift = try DNNLMemory(perChannelDescriptor, owned: true)
        batchMean = try DNNLMemory(perChannelDescriptor, owned: true)
        batchVariance = try DNNLMemory(perChannelDescriptor, owned: true)
    }

    private var lastMode: Mode?

    // y = γ·(x − μ)/√(σ² + ε) + β (then ReLU when fused). Training: μ, σ² of the batch, and the
    // running statistics updated as PyTorch does (momentum, unbiased variance); evaluation: the
    // running ones.
    func forward(input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, training isTraining: Bool,
                 gamma: Parameter, beta: Parameter, runningMean mean: Parameter, runningVariance variance: Parameter, momentum: Float) {
        let mode = isTraining ? training : evaluation
        lastMode = mode
        source.point(at: input)
        destination.target(output)
        scale.point(at: gamma.value)
        shift.point(at: beta.value)
        runningMean.point(at: mean.value)
        runningVariance.point(at: variance.value)
        var arguments = [(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination.inside), (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift),
                         (DNNL_ARG_MEAN, isTraining ? batchMean : runningMean),
                         (DNNL_ARG_VARIANCE, isTraining ? batchVariance : runningVariance)]
        if let workspace = mode.workspace { arguments.append((DNNL_ARG_WORKSPACE, workspace)) }
        mode.forward.execute(arguments)
        destination.store()
        guard isTraining else { return }
        let m = Float(perChannel), means = batchMean.data, variances = batchVariance.data
        for c in 0..<channels {
            mean.value[c] = (1 - momentum) * mean.value[c] + momentum * means[c]
            variance.value[c] = (1 - momentum) * variance.value[c] + momentum * variances[c] * m / Swift.max(m - 1, 1)
        }
    }

    /// dx (when `inputGradient` is given), and dγ, dβ added into the parameters' gradients, with
    /// the statistics of the last forward (batch or running).
    func backward(input: UnsafeMutablePointer<Float>, outputGradient dy: UnsafeMutablePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>, gamma: Parameter, beta: Parameter) {
        guard let mode = lastMode else { preconditionFailure("backward before forward") }
        let isTraining = mode.forward === training.forward
        source.point(at: input)
        outputGradient.load(dy)
        inputGradient.point(at: dx)
        scale.point(at: gamma.value)
        shift.point(at: beta.value)
        // oneDNN 2.6 refuses the backward without the shift, though dx does not depend on it.
        var arguments = [(DNNL_ARG_SRC, source), (DNNL_ARG_DIFF_DST, outputGradient.inside), (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift),
                         (DNNL_ARG_MEAN, isTraining ? batchMean : runningMean),
                         (DNNL_ARG_VARIANCE, isTraining ? batchVariance : runningVariance),
                         (DNNL_ARG_DIFF_SRC, inputGradient), (DNNL_ARG_DIFF_SCALE, diffScale), (DNNL_ARG_DIFF_SHIFT, diffShift)]
        if let workspace = mode.workspace { arguments.append((DNNL_ARG_WORKSPACE, workspace)) }
        mode.backward.execute(arguments)
        add(diffScale.data, into: gamma.gradient, count: channels)
        add(diffShift.data, into: beta.gradient, count: channels)
    }
}
