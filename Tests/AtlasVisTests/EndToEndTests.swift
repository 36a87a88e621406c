import AtlasCore
import AtlasImage
import AtlasTestSupport
import AtlasVis
import XCTest

/// Feature visualization without a network: a fixed random 1×1 convolution stands in for a layer.
final class EndToEndTests: XCTestCase {
    struct ToyLayer {
        let weights: [Float]  // [out][in]
        let outChannels: Int, inChannels: Int

        func forward(_ x: Tensor) -> Tensor {
            let n = x.shape[0], plane = x.shape[2] * x.shape[3]
            let y = Tensor(zeros: [n, outChannels, x.shape[2], x.shape[3]])
            for i in 0..<n { for o in 0..<outChannels { for c in 0..<inChannels {
                let w = weights[o * inChannels + c]
                for p in 0..<plane { y.data[(i * outChannels + o) * plane + p] += w * x.data[(i * inChannels + c) * plane + p] }
            } } }
            return y
        }

        func backward(_ g: Tensor, inputShape: [Int]) -> Tensor {
            let n = inputShape[0], plane = inputShape[2] * inputShape[3]
            let gx = Tensor(zeros: inputShape)
            for i in 0..<n { for o in 0..<outChannels { for c in 0..<inChannels {
                let w = weights[o * inChannels + c]
                for p in 0..<plane { gx.data[(i * inChannels + c) * plane + p] += w * g.data[(i * outChannels + o) * plane + p] }
            } } }
            return gx
        }
    }

    /// One optimisation run; returns the objective (without transforms) before and after, and the final image.
    func render(seeds: [UInt64], steps: Int) throws -> (before: [Double], after: [Double], image: Tensor) {
        let param = try FFTImageParam(height: 24, width: 24)
        let transforms = try TransformPipeline.parse("pad:3,jitter:2,scale:0.95-1.05,rotate:5,jitter:2")
        let pre = Preprocess.range(-1, 1)
        let toy = ToyLayer(weights: TestData.uniform([4, 3], seed: 42).toArray(), outChannels: 4, inChannels: 3)
        let objective = try Objective.parse("toy:1 - 1e-4*tv")
        let params = param.initialParameters(seeds: seeds)
        let adam = Adam(shape: params.shape)
        func plainValue() throws -> [Double] {
            let img = param.image(params)
            return try objective.evaluate(activations: ["toy": toy.forward(pre.forward(img))], image: img).values
        }
        let before = try plainValue()
        for step in 0..<steps {
            let img = param.image(params)
            let (t, record) = try transforms.forward(img, seeds: seeds, step: step)
            let x = pre.forward(t)
            let result = try objective.evaluate(activations: ["toy": toy.forward(x)], image: img)
            let gx = toy.backward(result.gradients["toy"]!, inputShape: x.shape)
            let gImage = transforms.backward(pre.backward(gx), record: record)
            if let gi = result.imageGradient { for i in 0..<gImage.count { gImage.data[i] += gi.data[i] } }
            adam.ascend(params, grad: param.backward(params, image: img, gradImage: gImage))
        }
        return (before, try plainValue(), param.image(params))
    }

    func testObjectiveRisesAndIconsAreIndependent() throws {
        let batch = try render(seeds: [3, 8], steps: 40)
        for i in 0..<2 { XCTAssertGreaterThan(batch.after[i], batch.before[i] + 0.1, "icon \(i): \(batch.before) → \(batch.after)") }
        let alone = try render(seeds: [8], steps: 40)
        XCTAssertEqual(bytes(alone.image), bytes(batch.image.slice(batch: 1..<2)))
        XCTAssertEqual(alone.after[0], batch.after[1])
    }
}
