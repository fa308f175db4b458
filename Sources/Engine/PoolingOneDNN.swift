import CDNNL

/// A max pool's oneDNN primitives for one batch size and input layout. The forward is oneDNN's
/// "training" kind, which keeps each window's winner in the workspace for the backward (input
/// gradients of a model in evaluation mode need it too). The output is computed in the layout
/// oneDNN prefers for the input's and leaves in it when the next layer takes oneDNN layouts,
/// else in NCHW; the input gradient comes back in the input's layout.
final class OneDNNMaxPool: OneDNNPlan {
    let batch: Int
    let inputLayout: dnnl_memory_desc_t
    let keepsLayout: Bool
    let outputLayout: OneDNNLayout?
    private let forwardPrimitive, backwardPrimitive: DNNLPrimitive
    private let source: DNNLMemory
    private let destination, outputGradient, inputGradient: StagedMemory
    private let workspace: DNNLMemory

    init(batch: Int, inputShape: [Int], outputShape: [Int], kernel: Int, stride: Int,
         inputLayout: dnnl_memory_desc_t, keepsLayout: Bool) throws {
        self.batch = batch
        self.inputLayout = inputLayout
        self.keepsLayout = keepsLayout
        // Windows that do not fit at the bottom and right are dropped (floor), which oneDNN
        // expresses as negative padding there.
        let bottom = Int64((outputShape[1] - 1) * stride + kernel - inputShape[1])
        let right = Int64((outputShape[2] - 1) * stride + kernel - inputShape[2])
        let output = [batch] + outputShape
        var source = inputLayout, anyOutput = anyDescriptor(output), anyInput = anyDescriptor([batch] + inputShape)
        var forwardOperation = dnnl_pooling_v2_desc_t()
        try dnnlCheck(tm_dnnl_max_pooling_forward(&forwardOperation, &source, &anyOutput, Int64(kernel), Int64(stride), bottom, right),
                      "pooling_v2_forward_desc_init")
        forwardPrimitive = try DNNLPrimitive(&forwardOperation)
        var backwardOperation = dnnl_pooling_v2_desc_t()
        try dnnlCheck(tm_dnnl_max_pooling_backward(&backwardOperation, &anyInput, &anyOutput, Int64(kernel), Int64(stride), bottom, right),
                      "pooling_v2_backward_desc_init")
        backwardPrimitive = try DNNLPrimitive(&backwardOperation, hint: forwardPrimitive)

        let computed = forwardPrimitive.layout(dnnl_query_dst_md)
        outputLayout = leavingLayout(computed, shape: output, keeps: keepsLayout)
        let outside = outputLayout?.descriptor ?? plainDescriptor(output)
        self.source = try DNNLMemory(inputLayout, owned: false)
        destination = try StagedMemory(outside: outside, inside: computed)
        workspace = try DNNLMemory(forwardPrimitive.layout(dnnl_query_workspace_md), owned: true)
        outputGradient = try StagedMemory(outside: outside, inside: backwardPrimitive.layout(dnnl_query_diff_dst_md))
        inputGradient = try StagedMemory(outside: inputLayout, inside: backwardPrimitive.layout(dnnl_query_diff_src_md))
    }

    // y = the maximum of each window
    func forward(input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        source.point(at: input)
        destination.target(output)
        forwardPrimitive.execute([(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination.inside), (DNNL_ARG_WORKSPACE, workspace)])
        destination.store()
    }

    // dx = dy at each window's winner, 0 elsewhere
    func backward(outputGradient dy: UnsafeMutablePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>) {
        outputGradient.load(dy)
        inputGradient.target(dx)
        backwardPrimitive.execute([(DNNL_ARG_DIFF_DST, outputGradient.inside), (DNNL_ARG_WORKSPACE, workspace),
                                   (DNNL_ARG_DIFF_SRC, inputGradient.inside)])
        inputGradient.store()
    }
}
