import XCTest
@testable import Engine

final class ConvolutionTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    private func checkConvolution(_ shape: [Int], out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool,
                                  expectShifted: Bool, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: 7)
        let conv = Conv2d(inputShape: shape, outChannels: out, kernel: kernel, stride: stride, padding: padding, bias: bias, rng: &rng)
        XCTAssertEqual(conv.usesShiftedProducts, expectShifted, file: file, line: line)
        let input = Tensor(shape: [3] + shape, values: GradientCheck.randomValues(3 * shape.reduce(1, *), seed: 11))
        GradientCheck.check(conv, name: "Conv2d \(shape) k\(kernel) s\(stride) p\(padding)", input: input, file: file, line: line)
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
