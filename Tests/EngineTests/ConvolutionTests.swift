import XCTest
@testable import Engine

final class ConvolutionTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    /// Checks the gradients on both libraries (oneDNN must have started: the suite installs it).
    private func checkConvolution(_ shape: [Int], out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool,
                                  expectShifted: Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(OneDNN.isAvailable, "oneDNN did not start", file: file, line: line)
        for library in KernelLibrary.allCases {
            var rng = SeededGenerator(seed: 7)
            let conv = Conv2d(inputShape: shape, outChannels: out, kernel: kernel, stride: stride, padding: padding, bias: bias,
                              library: library, rng: &rng)
            XCTAssertEqual(conv.library, library, file: file, line: line)
            XCTAssertEqual(conv.usesShiftedProducts, expectShifted, file: file, line: line)
            let input = Tensor(shape: [3] + shape, values: GradientCheck.randomValues(3 * shape.reduce(1, *), seed: 11))
            GradientCheck.check(conv, name: "Conv2d \(library) \(shape) k\(kernel) s\(stride) p\(padding)", input: input, file: file, line: line)
        }
    }

    /// oneDNN and the OpenBLAS path compute the same outputs and gradients, for the geometries the
    /// model zoo uses and odd ones, across batch sizes (each its own cached primitives), with the
    /// input gradient on and off.
    func testOneDNNAndOpenBLASAgree() {
        let cases: [(shape: [Int], out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)] = [
            ([1, 28, 28], 32, 3, 1, 1, false), ([32, 14, 14], 64, 3, 1, 1, false), ([16, 16, 16], 32, 3, 2, 1, false),
            ([16, 8, 8], 32, 1, 2, 0, false), ([3, 9, 7], 5, 3, 1, 0, true), ([8, 7, 7], 2, 5, 1, 2, true),
        ]
        for c in cases {
            var first = SeededGenerator(seed: 5), second = SeededGenerator(seed: 5)
            let reference = Conv2d(inputShape: c.shape, outChannels: c.out, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                   bias: c.bias, library: .openBLAS, rng: &first)
            let candidate = Conv2d(inputShape: c.shape, outChannels: c.out, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                   bias: c.bias, library: .oneDNN, rng: &second)
            XCTAssertEqual(candidate.library, .oneDNN)
            for (round, batch) in [4, 3, 4, 1].enumerated() {
                let items = c.shape.reduce(1, *)
                let x = Tensor(shape: [batch] + c.shape, values: GradientCheck.randomValues(batch * items, seed: UInt64(round)))
                let dy = GradientCheck.randomValues(batch * candidate.outputShape.reduce(1, *), seed: UInt64(round + 50))
                let firstLayer = round == 2  // the input gradient off, as for a network's first layer
                var outputs: [[Float]] = [], inputGradients: [[Float]] = [], weightGradients: [[Float]] = [], biasGradients: [[Float]] = []
                for conv in [reference, candidate] {
                    conv.computesInputGradient = !firstLayer
                    conv.weight.gradient.update(repeating: 0.5, count: conv.weight.count)  // backward adds into the gradient
                    conv.bias?.gradient.update(repeating: 0.5, count: c.out)
                    outputs.append(conv.forward(x, training: true).values)
                    let gradient = conv.backward(Tensor(shape: [batch] + conv.outputShape, values: dy))
                    inputGradients.append(firstLayer ? [] : gradient.values)
                    weightGradients.append(conv.weight.gradientValues)
                    biasGradients.append(conv.bias?.gradientValues ?? [])
                }
                let name = "\(c.shape) k\(c.kernel) s\(c.stride) p\(c.padding) batch \(batch)"
                assertClose(outputs[1], outputs[0], "output of \(name)")
                assertClose(inputGradients[1], inputGradients[0], "input gradient of \(name)")
                assertClose(weightGradients[1], weightGradients[0], "weight gradient of \(name)")
                assertClose(biasGradients[1], biasGradients[0], "bias gradient of \(name)")
            }
        }
    }

    private func assertClose(_ actual: [Float], _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        let worst = zip(actual, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4, what, file: file, line: line)
    }

    func testUnfoldedConvolutionGradients() {
        checkConvolution([2, 7, 6], out: 3, kernel: 3, stride: 1, padding: 1, bias: true, expectShifted: false)
    }

    func testStridedConvolutionGradients() {
        checkConvolution([3, 9, 9], out: 4, kernel: 3, stride: 2, padding: 1, bias: false, expectShifted: false)
    }

    func testUnpaddedConvolutionGradients() {
        checkConvolution([2, 6, 6], out: 3, kernel: 3, stride: 1, padding: 0, bias: true, expectShifted: false)
    }

    func testPointwiseConvolutionGradients() {
        checkConvolution([5, 4, 4], out: 3, kernel: 1, stride: 1, padding: 0, bias: true, expectShifted: false)
    }

    func testShiftedProductConvolutionGradients() {
        checkConvolution([8, 6, 5], out: 4, kernel: 3, stride: 1, padding: 1, bias: true, expectShifted: true)
    }

    func testShiftedProductFiveByFiveGradients() {
        checkConvolution([8, 7, 7], out: 2, kernel: 5, stride: 1, padding: 2, bias: false, expectShifted: true)
    }

    /// Both strategies compute the same convolution: the shifted GEMMs against a direct sum.
    func testShiftedAndDirectConvolutionAgree() {
        var rng = SeededGenerator(seed: 3)
        let shape = [8, 5, 6]
        let conv = Conv2d(inputShape: shape, outChannels: 3, kernel: 3, padding: 1, bias: true, rng: &rng)
        let input = Tensor(shape: [2] + shape, values: GradientCheck.randomValues(2 * 8 * 30, seed: 5))
        let output = conv.forward(input, training: true)
        let w = conv.weight.values, b = conv.bias!.values
        for n in 0..<2 {
            for o in 0..<3 {
                for y in 0..<5 {
                    for x in 0..<6 {
                        var sum = b[o]
                        for c in 0..<8 {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = y + ky - 1, ix = x + kx - 1
                                    guard iy >= 0, iy < 5, ix >= 0, ix < 6 else { continue }
                                    sum += w[((o * 8 + c) * 3 + ky) * 3 + kx] * input[((n * 8 + c) * 5 + iy) * 6 + ix]
                                }
                            }
                        }
                        XCTAssertEqual(output[((n * 3 + o) * 5 + y) * 6 + x], sum, accuracy: 1e-4)
                    }
                }
            }
        }
    }

    /// col2im is the adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
    func testCol2imIsTheAdjointOfIm2col() {
        for geometry in [ConvolutionGeometry(channels: 2, height: 5, width: 4, kernel: 3, stride: 1, padding: 1),
                         ConvolutionGeometry(channels: 2, height: 7, width: 7, kernel: 3, stride: 2, padding: 1),
                         ConvolutionGeometry(channels: 1, height: 6, width: 6, kernel: 5, stride: 1, padding: 2)] {
            let x = GradientCheck.randomValues(geometry.channels * geometry.height * geometry.width, seed: 1)
            var c = GradientCheck.randomValues(geometry.patchSize * geometry.outputPlane, seed: 2)
            var unfolded = [Float](repeating: 0, count: c.count)
            var folded = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { im2col($0.baseAddress!, &unfolded, geometry) }
            let left = zip(unfolded, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            c.withUnsafeMutableBufferPointer { col2im($0.baseAddress!, &folded, geometry) }
            let right = zip(x, folded).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)))
        }
    }
}
