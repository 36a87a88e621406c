import XCTest
import AtlasCore
import AtlasTestSupport

/// Forward and backward of the layers give the same bits at 1, 2 and 7 threads on a large tensor.
final class LayerDeterminismTests: XCTestCase {
    func bits(_ t: Tensor?) -> [UInt32] { t?.toArray().map(\.bitPattern) ?? [] }

    func testBitIdenticalAcrossThreadCounts() {
        let shape = [4, 32, 57, 61]
        let x = TestData.uniform(shape, in: -2...2, seed: 1)
        let bias = TestData.uniform([1, 32, 1, 1], seed: 2), row = TestData.uniform([61], seed: 3)
        let c = 32
        let bn = BatchNorm(scale: TestData.uniform([c], seed: 4), bias: TestData.uniform([c], seed: 5),
                           mean: TestData.uniform([c], seed: 6), variance: TestData.uniform([c], in: 0.5...1, seed: 7), epsilon: 1e-5)
        let cases: [(Layer, [Tensor])] = [
            (Relu(), [x]), (Sigmoid(), [x]),
            (Add(), [x, bias]), (Mul(), [x, row]), (Mul(), [TestData.uniform([4, 32, 1, 1], seed: 9), x]), (Div(), [row, TestData.uniform(shape, in: 1...2, seed: 8)]),
            (MaxPool(kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], ceilMode: true), [x]),
            (AveragePool(kernel: [3, 3], stride: [2, 2], pads: [0, 0, 1, 1], ceilMode: false, countIncludePad: false), [x]),
            (GlobalAveragePool(), [x]), (LRN(size: 5, alpha: 1e-2, beta: 0.75, bias: 1), [x]), (bn, [x]),
            (Concat(axis: 1), [x, x]), (Transpose(perm: [0, 2, 3, 1]), [x]), (Softmax(axis: 1), [x]),
            (ReduceMean(axes: [0, 2], keepDims: true), [x]), (ReduceSum(axes: [], keepDims: false), [x]),
            (Pad(pads: [0, 0, 2, 3, 0, 0, 1, 2], mode: .reflect), [x]),
            (Resize(outputSize: [4, 32, 100, 90], mode: .linear, coordinates: .halfPixel), [x]),
            (Slice(starts: [50, 1], ends: [2, 60], axes: [2, 3], steps: [-3, 2]), [x]),
        ]
        for (layer, inputs) in cases {
            func run() -> [[UInt32]] {
                let y = layer.forward(inputs)
                let g = TestData.uniform(y.shape, seed: 11)
                let grads = layer.backward(inputs, output: y, gradOutput: g, needsGrad: inputs.map { _ in true })
                return [bits(y)] + grads.map(bits)
            }
            let one = Parallel.withThreads(1) { run() }
            for threads in [2, 7] {
                XCTAssertTrue(Parallel.withThreads(threads) { run() } == one, "\(layer.name) differs at \(threads) threads")
            }
        }
    }
}
