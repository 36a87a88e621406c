/// ResNet-50 (torchvision v1.5: stride on the 3×3 conv) and VGG16 (torchvision, without batch norm).
extension ZooBuilder {
    /// torchvision `Bottleneck`: 1×1, 3×3 (stride), 1×1 ×4 with BatchNorm (ε 1e-5), projection shortcut when needed.
    /// The block's output is the value `output` (default `name`).
    mutating func bottleneck(_ x: String, _ name: String, _ inC: Int, _ width: Int, stride: Int, output: String? = nil) -> String {
        let outC = width * 4
        var y = relu(batchNorm(conv(x, name + ".conv1", inC, width, k: 1, bias: false), name + ".bn1", width, epsilon: 1e-5),
                     name + ".relu1")
        y = relu(batchNorm(conv(y, name + ".conv2", width, width, k: 3, stride: stride, bias: false), name + ".bn2", width,
                           epsilon: 1e-5), name + ".relu2")
        y = batchNorm(conv(y, name + ".conv3", width, outC, k: 1, bias: false), name + ".bn3", outC, epsilon: 1e-5)
        var shortcut = x
        if stride != 1 || inC != outC {
            shortcut = batchNorm(conv(x, name + ".downsample.0", inC, outC, k: 1, stride: stride, bias: false),
                                 name + ".downsample.1", outC, epsilon: 1e-5)
        }
        return relu(add(y, shortcut, name + ".add"), output ?? name)
    }

    mutating func buildResNet50() -> String {
        var x = relu(batchNorm(conv("input", "conv1", 3, 64, k: 7, stride: 2, bias: false), "bn1", 64, epsilon: 1e-5), "relu")
        x = maxPool(x, "maxpool", k: 3, stride: 2, pads: [1, 1, 1, 1])
        var inC = 64
        for (layer, (blocks, width)) in [(3, 64), (4, 128), (6, 256), (3, 512)].enumerated() {
            for b in 0..<blocks {
                // The last block's output is the whole layer's: `layer3` names it.
                x = bottleneck(x, "layer\(layer + 1).\(b)", inC, width, stride: b == 0 && layer > 0 ? 2 : 1,
                               output: b == blocks - 1 ? "layer\(layer + 1)" : nil)
                inC = width * 4
            }
        }
        x = flatten(globalAveragePool(x, "avgpool"), "flatten")
        return linear(x, "fc", 2048, 1000)
    }

    /// VGG16 `features.i` / `classifier.i` as torchvision numbers them. torchvision's adaptive 7×7 average pool is
    /// the identity at the native 224 px input and is left out, so the classifier needs a 224 px input.
    mutating func buildVGG16() -> String {
        var x = "input"
        var inC = 3
        var i = 0
        for v in [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0] {
            if v == 0 {
                x = maxPool(x, "features.\(i)", k: 2, stride: 2)
                i += 1
            } else {
                x = relu(conv(x, "features.\(i)", inC, v, k: 3), "features.\(i + 1)")
                inC = v
                i += 2
            }
        }
        x = flatten(x, "flatten")
        x = relu(linear(x, "classifier.0", 512 * 7 * 7, 4096), "classifier.1")
        x = relu(linear(x, "classifier.3", 4096, 4096), "classifier.4")
        return linear(x, "classifier.6", 4096, 1000)
    }
}
