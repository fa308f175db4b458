import CDNNL

/// A convolution layer's oneDNN primitives for one batch size — forward, backward-data and
/// backward-weights — created once and reused every step. oneDNN picks the layouts it computes
/// in (blocked ones such as nChw16c on AVX-512). The input arrives in NCHW or in the layout the
/// layer before left it in; the output leaves in the forward primitive's own layout when the
/// next layer takes it (`outputLayout`), else in NCHW. Reorders run only where layouts differ,
/// and a layout two primitives share is reordered once. Weights are OIHW outside.
final class OneDNNConvolution: OneDNNPlan {
    let batch: Int
    /// The input's layout these primitives were built for.
    let inputLayout: dnnl_memory_desc_t
    let keepsLayout: Bool
    /// The output's layout when it stays in oneDNN's (nil: NCHW).
    let outputLayout: OneDNNLayout?
    private let forwardPrimitive, backwardDataPrimitive, backwardWeightsPrimitive: DNNLPrimitive
    private let source, weights, destination: StagedMemory
    private let bias: DNNLMemory?
    private let outputGradient, inputGradient: StagedMemory
    /// Backward-data's weights when it wants them in another layout than forward's (else nil).
    private let weightsForData: StagedMemory?
    /// Backward-weights' input and output gradient when it wants other layouts (else nil).
    private let sourceForWeights, outputGradientForWeights: StagedMemory?
    private let weightGradient, weightGradientPlain: DNNLMemory
    private let weightGradientReorder: DNNLPrimitive?
    private let biasGradient: DNNLMemory?
    private let weightCount, outChannels: Int

    init(geometry g: ConvolutionGeometry, outChannels: Int, hasBias: Bool, batch: Int,
         inputLayout: dnnl_memory_desc_t, keepsLayout: Bool, precision: Precision = .fp32) throws {
        self.batch = batch
        self.inputLayout = inputLayout
        self.keepsLayout = keepsLayout
        self.outChannels = outChannels
        weightCount = outChannels * g.patchSize
        let stride = Int64(g.stride), padding = Int64(g.padding)
        func kernel(_ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
            try memoryDescriptor { tm_dnnl_memory_desc_4d($0, Int64(outChannels), Int64(g.channels), Int64(g.kernel), Int64(g.kernel), type, tag) }
        }
        let outputShape = [batch, outChannels, g.outputHeight, g.outputWidth], inputShape = [batch, g.channels, g.height, g.width]
        let plainWeights = try kernel(dnnl_oihw)
        // What the products read (FP32, or BF16 in mixed precision) and what they write (FP32).
        let compute = precision == .bf16 ? dnnl_bf16 : dnnl_f32
        var anySource = anyDescriptor(inputShape, type: compute), anyInputGradient = anyDescriptor(inputShape)
        var anyDestination = anyDescriptor(outputShape), anyOutputGradient = anyDescriptor(outputShape, type: compute)
        var anyWeights = try kernel(dnnl_format_tag_any, compute), anyWeightGradient = try kernel(dnnl_format_tag_any)
        let plainBias = try memoryDescriptor { tm_dnnl_memory_desc_1d($0, Int64(outChannels), dnnl_f32) }

        // The bias is optional: oneDNN takes a null descriptor for none.
        let biasDescriptor = UnsafeMutablePointer<dnnl_memory_desc_t>.allocate(capacity: 1)
        defer { biasDescriptor.deallocate() }
        biasDescriptor.initialize(to: plainBias)
        let optionalBias = hasBias ? UnsafePointer(biasDescriptor) : nil
        var forwardOperation = dnnl_convolution_desc_t()
        try dnnlCheck(tm_dnnl_convolution_forward(&forwardOperation, &anySource, &anyWeights, optionalBias,
                                                  &anyDestination, stride, padding), "convolution_forward_desc_init")
        forwardPrimitive = try DNNLPrimitive(&forwardOperation)
        var dataOperation = dnnl_convolution_desc_t()
        try dnnlCheck(tm_dnnl_convolution_backward_data(&dataOperation, &anyInputGradient, &anyWeights, &anyOutputGradient, stride, padding),
                      "convolution_backward_data_desc_init")
        backwardDataPrimitive = try DNNLPrimitive(&dataOperation, hint: forwardPrimitive)
        var weightsOperation = dnnl_convolution_desc_t()
        try dnnlCheck(tm_dnnl_convolution_backward_weights(&weightsOperation, &anySource, &anyWeightGradient, optionalBias,
                                                           &anyOutputGradient, stride, padding), "convolution_backward_weights_desc_init")
        backwardWeightsPrimitive = try DNNLPrimitive(&weightsOperation, hint: forwardPrimitive)

        let computedOutput = forwardPrimitive.layout(dnnl_query_dst_md)
        outputLayout = leavingLayout(computedOutput, shape: outputShape, keeps: keepsLayout)
        let outsideOutput = outputLayout?.descriptor ?? plainDescriptor(outputShape)
        source = try StagedMemory(outside: inputLayout, inside: forwardPrimitive.layout(dnnl_query_src_md))
        weights = try StagedMemory(outside: plainWeights, inside: forwardPrimitive.layout(dnnl_query_weights_md))
        destination = try StagedMemory(outside: outsideOutput, inside: computedOutput)
        bias = hasBias ? try DNNLMemory(plainBias, owned: false) : nil

        outputGradient = try StagedMemory(outside: outsideOutput, inside: backwardDataPrimitive.layout(dnnl_query_diff_dst_md))
        inputGradient = try StagedMemory(outside: inputLayout, inside: backwardDataPrimitive.layout(dnnl_query_diff_src_md))
        let dataWeights = backwardDataPrimitive.layout(dnnl_query_weights_md)
        weightsForData = sameLayout(weights.inside.descriptor, dataWeights) ? nil : try StagedMemory(outside: plainWeights, inside: dataWeights)

        let weightsSource = backwardWeightsPrimitive.layout(dnnl_query_src_md)
        sourceForWeights = sameLayout(source.inside.descriptor, weightsSource) ? nil : try StagedMemory(outside: inputLayout, inside: weightsSource)
        let weightsGradientOut = backwardWeightsPrimitive.layout(dnnl_query_diff_dst_md)
        outputGradientForWeights = sameLayout(outputGradient.inside.descriptor, weightsGradientOut)
            ? nil : try StagedMemory(outside: outsideOutput, inside: weightsGradientOut)
        weightGradient = try DNNLMemory(backwardWeightsPrimitive.layout(dnnl_query_diff_weights_md), owned: true)
        if sameLayout(weightGradient.descriptor, plainWeights) {
            weightGradientPlain = weightGradient
            weightGradientReorder = nil
        } else {
            weightGradientPlain = try DNNLMemory(plainWeights, owned: true)
            weightGradientReorder = try DNNLPrimitive(reorderFrom: weightGradient, to: weightGradientPlain)
        }
        biasGradient = hasBias ? try DNNLMemory(plainBias, owned: true) : nil
    }

    /// Kernel names of the three primitives, for `tracemark engine`.
    var implementations: [String] {
        [forwardPrimitive, backwardDataPrimitive, backwardWeightsPrimitive].map(\.implementation)
    }

    // y = W ∗ x + b
    func forward(input: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>, bias b: UnsafeMutablePointer<Float>?,
                 output: UnsafeMutablePointer<Float>) {
        source.load(input)
        weights.load(w)
        destination.target(output)
        var arguments = [(DNNL_ARG_SRC, source.inside), (DNNL_ARG_WEIGHTS, weights.inside), (DNNL_ARG_DST, destination.inside)]
        if let bias, let b {
            bias.point(at: b)
            arguments.append((DNNL_ARG_BIAS, bias))
        }
        forwardPrimitive.execute(arguments)
        destination.store()
    }

    /// dx = Wᵀ ⋆ dy (when `inputGradient` is given), and dW, db added into the parameters'
    /// gradients. Uses the input and weights the last `forward` brought into oneDNN's layouts.
    func backward(input: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>, outputGradient dy: UnsafeMutablePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>?, weightGradient dw: UnsafeMutablePointer<Float>,
                  biasGradient db: UnsafeMutablePointer<Float>?) {
        if let dx {
            outputGradient.load(dy)
            weightsForData?.load(w)
            inputGradient.target(dx)
            backwardDataPrimitive.execute([(DNNL_ARG_DIFF_DST, outputGradient.inside), (DNNL_ARG_WEIGHTS, (weightsForData ?? weights).inside),
                                           (DNNL_ARG_DIFF_SRC, inputGradient.inside)])
            inputGradient.store()
        }
        sourceForWeights?.load(input)
        // dy is reordered once: backward-data's copy serves here too when the layouts agree.
        let gradientForWeights = outputGradientForWeights ?? outputGradient
        if gradientForWeights !== outputGradient || dx == nil { gradientForWeights.load(dy) }
        var arguments = [(DNNL_ARG_SRC, (sourceForWeights ?? source).inside), (DNNL_ARG_DIFF_DST, gradientForWeights.inside),
                         (DNNL_ARG_DIFF_WEIGHTS, weightGradient)]
        if let biasGradient { arguments.append((DNNL_ARG_DIFF_BIAS, biasGradient)) }
        backwardWeightsPrimitive.execute(arguments)
        weightGradientReorder?.execute([(DNNL_ARG_FROM, weightGradient), (DNNL_ARG_TO, weightGradientPlain)])
        add(weightGradientPlain.data, into: dw, count: weightCount)
        if let biasGradient, let db {
            add(biasGradient.data, into: db, count: outChannels)
        }
    }
}

extension OneDNN {
    /// The kernels oneDNN picks for a typical convolution (fmnist-cnn's second, batch 128).
    public static func sampleConvolutionKernels(precision: Precision) -> [String]? {
        let geometry = ConvolutionGeometry(channels: 32, height: 28, width: 28, kernel: 3, stride: 1, padding: 1)
        return try? OneDNNConvolution(geometry: geometry, outChannels: 32, hasBias: false, batch: 128,
                                      inputLayout: plainDescriptor([128, 32, 28, 28]), keepsLayout: false, precision: precision).implementations
    }
}
