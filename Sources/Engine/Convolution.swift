import CBLAS

/// The geometry of a 2-D convolution over one image, shared by im2col and col2im.
struct ConvolutionGeometry {
    let channels, height, width, kernel, stride, padding: Int
    var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    var outputPlane: Int { outputHeight * outputWidth }
    var patchSize: Int { channels * kernel * kernel }
    /// A 1×1, stride-1, unpadded convolution is a plain matrix product on the image itself.
    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Stride 1 with "same" padding: each patch row is the whole image plane shifted, which the
    /// fast paths of im2col and col2im copy in one piece.
    var isSameShift: Bool { stride == 1 && outputHeight == height && outputWidth == width }

    /// For kernel offset `k`, the output columns `lo..<hi` whose input column `o*stride - padding + k`
    /// lies inside the image.
    @inline(__always) func validColumns(kernelOffset k: Int) -> (Int, Int) {
        let shift = k - padding
        let lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride
        let hi = Swift.min(outputWidth, (width - 1 - shift) / stride + 1)
        return (lo, Swift.max(lo, hi))
    }
}

/// Unfolds one image (C, H, W) into patch columns (C·K·K, OH·OW), so the convolution becomes a GEMM.
/// Rows are short (one output row each), so plain loops beat memcpy/memset calls here.
func im2col(_ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry) {
    if g.isSameShift { return im2colSameShift(image, columns, g) }
    let outWidth = g.outputWidth, plane = g.outputPlane, stride = g.stride
    var row = columns
    for c in 0..<g.channels {
        let channel = image + c * g.height * g.width
        for ky in 0..<g.kernel {
            for kx in 0..<g.kernel {
                let (lo, hi) = g.validColumns(kernelOffset: kx)
                for oy in 0..<g.outputHeight {
                    let destination = row + oy * outWidth
                    let iy = oy * stride - g.padding + ky
                    if iy < 0 || iy >= g.height || lo >= hi {
                        for ox in 0..<outWidth { destination[ox] = 0 }
                        continue
                    }
                    let source = channel + iy * g.width + (kx - g.padding)
                    for ox in 0..<lo { destination[ox] = 0 }
                    if stride == 1 {
                        for ox in lo..<hi { destination[ox] = source[ox] }
                    } else {
                        for ox in lo..<hi { destination[ox] = source[ox * stride] }
                    }
                    for ox in hi..<outWidth { destination[ox] = 0 }
                }
                row += plane
            }
        }
    }
}

/// The adjoint of im2col: adds patch-column gradients back onto the image gradient (which the
/// caller has zeroed).
func col2im(_ columns: UnsafeMutablePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry) {
    if g.isSameShift { return col2imSameShift(columns, image, g) }
    let outWidth = g.outputWidth, plane = g.outputPlane, stride = g.stride
    var row = columns
    for c in 0..<g.channels {
        let channel = image + c * g.height * g.width
        for ky in 0..<g.kernel {
            for kx in 0..<g.kernel {
                let (lo, hi) = g.validColumns(kernelOffset: kx)
                for oy in 0..<g.outputHeight {
                    let iy = oy * stride - g.padding + ky
                    if iy < 0 || iy >= g.height || lo >= hi { continue }
                    let source = row + oy * outWidth
                    let destination = channel + iy * g.width + (kx - g.padding)
                    if stride == 1 {
                        for ox in lo..<hi { destination[ox] += source[ox] }
                    } else {
                        for ox in lo..<hi { destination[ox * stride] += source[ox] }
                    }
                }
                row += plane
            }
        }
    }
}

/// Where the plane shifted by kernel tap (ky, kx) overlaps the image, for the same-shift fast
/// paths: the source offset of the shift, the contiguous run `start..<end` of the patch row that
/// stays inside, and the rows and columns of that run that wrapped onto a neighbouring image row
/// (they are really padding).
private struct ShiftedRun {
    let offset, start, end: Int
    let rows: Range<Int>
    let wrappedColumns: Range<Int>

    init(ky: Int, kx: Int, _ g: ConvolutionGeometry) {
        let shiftY = ky - g.padding, shiftX = kx - g.padding
        let firstRow = Swift.max(0, -shiftY), endRow = Swift.max(firstRow, Swift.min(g.height, g.height - shiftY))
        offset = shiftY * g.width + shiftX
        start = firstRow * g.width + Swift.max(0, -shiftX)
        end = Swift.max(start, endRow * g.width - Swift.max(0, shiftX))
        rows = firstRow..<endRow
        wrappedColumns = shiftX >= 0 ? (g.width - shiftX)..<g.width : 0..<(-shiftX)
    }

    func zeroWrappedColumns(_ row: UnsafeMutablePointer<Float>, width: Int) {
        for y in rows {
            for x in wrappedColumns { row[y * width + x] = 0 }
        }
    }
}

/// The patch row for kernel offset (ky, kx) is the plane shifted by (ky − p, kx − p): one long
/// copy of the rows that stay inside, then zeros where the shift leaves the image.
private func im2colSameShift(_ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry) {
    let plane = g.height * g.width
    var row = columns
    for c in 0..<g.channels {
        let channel = image + c * plane
        for ky in 0..<g.kernel {
            for kx in 0..<g.kernel {
                let run = ShiftedRun(ky: ky, kx: kx, g)
                row.update(repeating: 0, count: run.start)
                (row + run.start).update(from: channel + run.start + run.offset, count: run.end - run.start)
                (row + run.end).update(repeating: 0, count: plane - run.end)
                run.zeroWrappedColumns(row, width: g.width)
                row += plane
            }
        }
    }
}

/// The adjoint of im2colSameShift. It zeroes the wrapped columns of `columns` first (they belong
/// to padding), so each patch row can then be added back in one contiguous run.
private func col2imSameShift(_ columns: UnsafeMutablePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry) {
    let plane = g.height * g.width
    var row = columns
    for c in 0..<g.channels {
        let channel = image + c * plane
        for ky in 0..<g.kernel {
            for kx in 0..<g.kernel {
                let run = ShiftedRun(ky: ky, kx: kx, g)
                run.zeroWrappedColumns(row, width: g.width)
                let destination = channel + run.start + run.offset, source = row + run.start
                for i in 0..<(run.end - run.start) { destination[i] += source[i] }
                row += plane
            }
        }
    }
}

/// Per-worker buffers of a convolution, sized once.
final class ConvolutionScratch {
    /// im2col path: the unfolded patches of one image.
    let columns: Tensor
    /// Shifted path: zero-bordered copies of one image and of its output gradient, and one
    /// wide result (rows of the padded width) before it is compacted.
    let paddedInput, paddedGradient, wide: Tensor
    let weightGradient, biasGradient: Tensor

    init(columns: Int, paddedInput: Int, paddedGradient: Int, wide: Int, weights: Int, biases: Int) {
        self.columns = Tensor(shape: [columns])
        self.paddedInput = Tensor(shape: [paddedInput])
        self.paddedGradient = Tensor(shape: [paddedGradient])
        self.wide = Tensor(shape: [wide])
        weightGradient = Tensor(shape: [weights])
        biasGradient = Tensor(shape: [biases])
    }
}

/// 2-D convolution, square kernel. Weight (Cout, Cin, K, K), optional bias (Cout).
///
/// With oneDNN (`KernelLibrary.oneDNN`, the default when it starts) the whole batch goes
/// through its primitives (`OneDNNConvolution`). The OpenBLAS path below is the fallback:
/// Stride-1 "same" convolutions over enough channels run as K² shifted GEMMs on a zero-bordered
/// copy of the image: the input plane shifted by (ky, kx) is itself a matrix (rows = channels,
/// row stride = padded plane), so no patches are unfolded. The output comes out with the padded
/// row width and is compacted. Other convolutions unfold patches with im2col and do one GEMM.
public final class Conv2d: Layer {
    let geometry: ConvolutionGeometry
    let outChannels: Int
    public let weight: Parameter
    public let bias: Parameter?
    public let outputShape: [Int]
    public var computesInputGradient = true
    /// Below this many input channels a shifted GEMM's inner dimension is too short to pay off.
    static let shiftedMinimumChannels = 8
    let usesShiftedProducts: Bool

    private var input: Tensor!
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var scratch: [ConvolutionScratch] = []
    /// The weights regrouped as (K², Cout, Cin) for the shifted GEMMs, refreshed every forward.
    private let shiftedWeights: Tensor
    private let oneDNN: OneDNNPath<OneDNNConvolution>
    /// The plan the last forward ran on oneDNN (nil: it ran on OpenBLAS).
    private var plan: OneDNNConvolution?
    private let fallback = LayoutFallback()
    public var keepsOneDNNLayout = false
    public var takesOneDNNLayouts: Bool { oneDNN.isActive }
    public var library: KernelLibrary { oneDNN.isActive ? .oneDNN : .openBLAS }
    /// The products' arithmetic on oneDNN (the engine's own kernels are always FP32).
    public let precision: Precision

    public init(inputShape: [Int], outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias hasBias: Bool = true, library: KernelLibrary = .selected, precision: Precision = .selected,
                rng: inout SeededGenerator) {
        precondition(inputShape.count == 3, "Conv2d takes (C, H, W) items, got \(inputShape)")
        geometry = ConvolutionGeometry(channels: inputShape[0], height: inputShape[1], width: inputShape[2],
                                       kernel: kernel, stride: stride, padding: padding)
        precondition(geometry.outputHeight > 0 && geometry.outputWidth > 0, "Conv2d input \(inputShape) too small")
        self.outChannels = outChannels
        let fanIn = geometry.patchSize
        weight = Parameter(shape: [outChannels, inputShape[0], kernel, kernel],
                           initial: uniformFanIn(count: outChannels * fanIn, fanIn: fanIn, rng: &rng))
        bias = hasBias ? Parameter(shape: [outChannels], initial: uniformFanIn(count: outChannels, fanIn: fanIn, rng: &rng)) : nil
        outputShape = [outChannels, geometry.outputHeight, geometry.outputWidth]
        usesShiftedProducts = geometry.isSameShift && kernel > 1 && inputShape[0] >= Self.shiftedMinimumChannels
        shiftedWeights = Tensor(shape: [usesShiftedProducts ? weight.count : 0])
        oneDNN = OneDNNPath(library: library, layerName: "a \(kernel)×\(kernel) convolution over \(inputShape)")
        self.precision = precision
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    // The padded plane of the shifted path: (H + 2p) × (W + 2p), plus K spare values so the last
    // channel's shifted reads of the (discarded) wrap-around columns stay inside the buffer.
    private var paddedWidth: Int { geometry.width + 2 * geometry.padding }
    private var paddedPlane: Int { (geometry.height + 2 * geometry.padding) * paddedWidth }

    private func prepareScratch() {
        guard scratch.count != Parallel.workers else { return }
        let g = geometry, spare = g.kernel
        scratch = (0..<Parallel.workers).map { _ in
            ConvolutionScratch(
                columns: usesShiftedProducts || g.isPointwise ? 0 : g.patchSize * g.outputPlane,
                paddedInput: usesShiftedProducts ? g.channels * paddedPlane + spare : 0,
                paddedGradient: usesShiftedProducts ? outChannels * paddedPlane + spare : 0,
                wide: usesShiftedProducts ? Swift.max(outChannels, g.channels) * g.outputHeight * paddedWidth : 0,
                weights: weight.count, biases: outChannels)
        }
    }

    /// Copies `planes` planes of H×W into the interior of zero-bordered planes.
    private func pad(_ source: UnsafePointer<Float>, planes: Int, into padded: UnsafeMutablePointer<Float>) {
        let g = geometry, width = paddedWidth, plane = paddedPlane
        for c in 0..<planes {
            let from = source + c * g.height * g.width, to = padded + c * plane + g.padding * width + g.padding
            for y in 0..<g.height {
                let row = to + y * width, source = from + y * g.width
                for x in 0..<g.width { row[x] = source[x] }
            }
        }
    }

    /// Copies the valid columns of wide rows (padded width) into compact H×W planes.
    private func compact(_ wide: UnsafePointer<Float>, planes: Int, into destination: UnsafeMutablePointer<Float>) {
        let g = geometry, width = paddedWidth
        for c in 0..<planes {
            let from = wide + c * g.outputHeight * width, to = destination + c * g.outputPlane
            for y in 0..<g.outputHeight {
                let row = to + y * g.outputWidth, source = from + y * width
                for x in 0..<g.outputWidth { row[x] = source[x] }
            }
        }
    }

    // input is (B, Cin, H, W), output is (B, Cout, OH, OW)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.batch, g = geometry, plane = g.outputPlane
        plan = oneDNN.plan(for: input, keepsLayout: keepsOneDNNLayout) {
            try OneDNNConvolution(geometry: g, outChannels: outChannels, hasBias: bias != nil, batch: batch,
                                  inputLayout: $0, keepsLayout: keepsOneDNNLayout, precision: precision)
        }
        if let plan {
            self.input = input
            output.reshape([batch] + outputShape, layout: plan.outputLayout)
            plan.forward(input: input.data, weights: weight.value, bias: bias?.value, output: output.data)
            return output
        }
        let input = fallback.plainInput(input)
        self.input = input
        output.reshape([batch] + outputShape)
        prepareScratch()
        let inItem = input.itemCount, outItem = outChannels * plane
        let x = input.data, y = output.data
        if usesShiftedProducts { regroupWeights() }
        Parallel.chunks(batch) { range, worker in
            let s = self.scratch[worker]
            for n in range {
                if self.usesShiftedProducts {
                    self.forwardShifted(x + n * inItem, y + n * outItem, s)
                } else {
                    self.forwardUnfolded(x + n * inItem, y + n * outItem, s)
                }
                if let b = self.bias?.value {
                    for o in 0..<self.outChannels {
                        let row = y + n * outItem + o * plane, value = b[o]
                        for i in 0..<plane { row[i] += value }
                    }
                }
            }
        }
        return output
    }

    private func forwardUnfolded(_ image: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ s: ConvolutionScratch) {
        let g = geometry, plane = g.outputPlane
        let patches: UnsafePointer<Float>
        if g.isPointwise { patches = image } else { im2col(image, s.columns.data, g); patches = UnsafePointer(s.columns.data) }
        // Y (Cout, P) = W (Cout, CKK) · patches (CKK, P)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(plane), Int32(g.patchSize),
                    1, weight.value, Int32(g.patchSize), patches, Int32(plane), 0, out, Int32(plane))
    }

    private func forwardShifted(_ image: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ s: ConvolutionScratch) {
        let g = geometry, width = paddedWidth, wideCount = g.outputHeight * width
        pad(image, planes: g.channels, into: s.paddedInput.data)
        for k in 0..<(g.kernel * g.kernel) {
            let shift = (k / g.kernel) * width + k % g.kernel
            // wide (Cout, OH·Wp) += W_k (Cout, Cin) · shifted input (Cin, OH·Wp)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(wideCount), Int32(g.channels),
                        1, shiftedWeights.data + k * outChannels * g.channels, Int32(g.channels),
                        s.paddedInput.data + shift, Int32(paddedPlane), k == 0 ? 0 : 1, s.wide.data, Int32(wideCount))
        }
        compact(s.wide.data, planes: outChannels, into: out)
    }

    /// (Cout, Cin, K, K) → (K², Cout, Cin).
    private func regroupWeights() {
        let taps = geometry.kernel * geometry.kernel, pairs = outChannels * geometry.channels
        let w = weight.value, r = shiftedWeights.data
        for pair in 0..<pairs {
            for k in 0..<taps { r[k * pairs + pair] = w[pair * taps + k] }
        }
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let batch = input.batch, g = geometry, plane = g.outputPlane
        let inItem = input.itemCount, outItem = outChannels * plane
        inputGradient.reshape(input.shape, layout: input.layout)
        if let plan {
            plan.backward(input: input.data, weights: weight.value, outputGradient: outputGradient.data,
                          inputGradient: computesInputGradient ? inputGradient.data : nil,
                          weightGradient: weight.gradient, biasGradient: bias?.gradient)
            return inputGradient
        }
        let x = input.data, dy = outputGradient.data, dx = inputGradient.data
        Parallel.chunks(batch) { range, worker in
            let s = self.scratch[worker]
            s.weightGradient.fill(0)
            s.biasGradient.fill(0)
            for n in range {
                let dOut = dy + n * outItem
                if self.usesShiftedProducts {
                    self.backwardShifted(x + n * inItem, dOut, dx + n * inItem, s)
                } else {
                    self.backwardUnfolded(x + n * inItem, dOut, dx + n * inItem, s)
                }
                if self.bias != nil {
                    for o in 0..<self.outChannels { s.biasGradient.data[o] += sum(dOut + o * plane, count: plane) }
                }
            }
        }
        let taps = g.kernel * g.kernel, pairs = outChannels * g.channels
        for s in scratch.prefix(Swift.min(Parallel.workers, batch)) {
            if usesShiftedProducts {
                // Partials are in the regrouped (K², Cout, Cin) order.
                let partial = s.weightGradient.data, dw = weight.gradient
                for pair in 0..<pairs {
                    for k in 0..<taps { dw[pair * taps + k] += partial[k * pairs + pair] }
                }
            } else {
                add(s.weightGradient.data, into: weight.gradient, count: weight.count)
            }
            if let bias { add(s.biasGradient.data, into: bias.gradient, count: outChannels) }
        }
        return fallback.gradientInInputLayout(inputGradient)
    }

    private func backwardUnfolded(_ image: UnsafePointer<Float>, _ dOut: UnsafePointer<Float>,
                                  _ dImage: UnsafeMutablePointer<Float>, _ s: ConvolutionScratch) {
        let g = geometry, plane = g.outputPlane, cols = s.columns.data
        let patches: UnsafePointer<Float>
        if g.isPointwise { patches = image } else { im2col(image, cols, g); patches = UnsafePointer(cols) }
        // dW (Cout, CKK) += dY (Cout, P) · patchesᵀ (P, CKK)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(outChannels), Int32(g.patchSize), Int32(plane),
                    1, dOut, Int32(plane), patches, Int32(plane), 1, s.weightGradient.data, Int32(g.patchSize))
        guard computesInputGradient else { return }
        if g.isPointwise {
            // dX (Cin, P) = Wᵀ (Cin, Cout) · dY (Cout, P)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(g.channels), Int32(plane), Int32(outChannels),
                        1, weight.value, Int32(g.channels), dOut, Int32(plane), 0, dImage, Int32(plane))
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(g.patchSize), Int32(plane), Int32(outChannels),
                        1, weight.value, Int32(g.patchSize), dOut, Int32(plane), 0, cols, Int32(plane))
            dImage.update(repeating: 0, count: g.channels * g.height * g.width)
            col2im(cols, dImage, g)
        }
    }

    // With the output gradient zero-bordered too, dY in wide rows is that buffer offset by (p, p)
    // (its wrap-around columns land on zeros), and dX is the "full" correlation of the padded dY
    // with the weights flipped: tap (ky, kx) reads dY shifted by (K−1−ky, K−1−kx).
    private func backwardShifted(_ image: UnsafePointer<Float>, _ dOut: UnsafePointer<Float>,
                                 _ dImage: UnsafeMutablePointer<Float>, _ s: ConvolutionScratch) {
        let g = geometry, width = paddedWidth, wideCount = g.outputHeight * width, taps = g.kernel * g.kernel
        let pairs = outChannels * g.channels
        pad(image, planes: g.channels, into: s.paddedInput.data)
        pad(dOut, planes: outChannels, into: s.paddedGradient.data)
        let dOutWide = s.paddedGradient.data + g.padding * width + g.padding
        for k in 0..<taps {
            let shift = (k / g.kernel) * width + k % g.kernel
            // dW_k (Cout, Cin) += dY wide (Cout, OH·Wp) · shifted inputᵀ (OH·Wp, Cin)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(outChannels), Int32(g.channels), Int32(wideCount),
                        1, dOutWide, Int32(paddedPlane), s.paddedInput.data + shift, Int32(paddedPlane),
                        1, s.weightGradient.data + k * pairs, Int32(g.channels))
        }
        guard computesInputGradient else { return }
        for k in 0..<taps {
            let shift = (g.kernel - 1 - k / g.kernel) * width + (g.kernel - 1 - k % g.kernel)
            // dX wide (Cin, H·Wp) += W_kᵀ (Cin, Cout) · shifted dY (Cout, H·Wp)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(g.channels), Int32(wideCount), Int32(outChannels),
                        1, shiftedWeights.data + k * pairs, Int32(g.channels), s.paddedGradient.data + shift, Int32(paddedPlane),
                        k == 0 ? 0 : 1, s.wide.data, Int32(wideCount))
        }
        compact(s.wide.data, planes: g.channels, into: dImage)
    }
}

@inline(__always) func add(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { destination[i] += source[i] }
}
