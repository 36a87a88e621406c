/// GoogLeNet as torchvision builds it (`googlenet(aux_logits=False)`, `transform_input=False`) and InceptionV1 as
/// Lucid/Lucent build it (`lucent.modelzoo.inceptionv1`, with LRN and layer names `mixed3a` … `mixed5b`).
extension ZooBuilder {
    /// torchvision `BasicConv2d`: conv without bias, BatchNorm (ε 0.001), ReLU; values `name.conv`, `name.bn`, `name`.
    mutating func basicConv(_ x: String, _ name: String, _ inC: Int, _ outC: Int, k: Int, stride: Int = 1) -> String {
        let c = conv(x, name + ".conv", inC, outC, k: k, stride: stride, bias: false)
        return relu(batchNorm(c, name + ".bn", outC, epsilon: 0.001), name)
    }

    /// torchvision `Inception` block (its "5x5" branch uses a 3×3 kernel, as torchvision does).
    mutating func googlenetInception(_ x: String, _ name: String, _ inC: Int, _ c1: Int, _ c3r: Int, _ c3: Int,
                                     _ c5r: Int, _ c5: Int, _ pool: Int) -> String {
        let b1 = basicConv(x, name + ".branch1", inC, c1, k: 1)
        let b2 = basicConv(basicConv(x, name + ".branch2.0", inC, c3r, k: 1), name + ".branch2.1", c3r, c3, k: 3)
        let b3 = basicConv(basicConv(x, name + ".branch3.0", inC, c5r, k: 1), name + ".branch3.1", c5r, c5, k: 3)
        let p = maxPool(x, name + ".branch4.0", k: 3, stride: 1, pads: [1, 1, 1, 1], ceil: true)
        let b4 = basicConv(p, name + ".branch4.1", inC, pool, k: 1)
        return concat([b1, b2, b3, b4], name)
    }

    mutating func buildGoogLeNet() -> String {
        var x = basicConv("input", "conv1", 3, 64, k: 7, stride: 2)
        x = maxPool(x, "maxpool1", k: 3, stride: 2, ceil: true)
        x = basicConv(x, "conv2", 64, 64, k: 1)
        x = basicConv(x, "conv3", 64, 192, k: 3)
        x = maxPool(x, "maxpool2", k: 3, stride: 2, ceil: true)
        x = googlenetInception(x, "inception3a", 192, 64, 96, 128, 16, 32, 32)
        x = googlenetInception(x, "inception3b", 256, 128, 128, 192, 32, 96, 64)
        x = maxPool(x, "maxpool3", k: 3, stride: 2, ceil: true)
        x = googlenetInception(x, "inception4a", 480, 192, 96, 208, 16, 48, 64)
        x = googlenetInception(x, "inception4b", 512, 160, 112, 224, 24, 64, 64)
        x = googlenetInception(x, "inception4c", 512, 128, 128, 256, 24, 64, 64)
        x = googlenetInception(x, "inception4d", 512, 112, 144, 288, 32, 64, 64)
        x = googlenetInception(x, "inception4e", 528, 256, 160, 320, 32, 128, 128)
        x = maxPool(x, "maxpool4", k: 2, stride: 2, ceil: true)
        x = googlenetInception(x, "inception5a", 832, 256, 160, 320, 32, 128, 128)
        x = googlenetInception(x, "inception5b", 832, 384, 192, 384, 48, 128, 128)
        x = flatten(globalAveragePool(x, "avgpool"), "flatten")
        return linear(x, "fc", 1024, 1000)
    }

    /// Lucent's mixed block. Convs are created in the module's registration order (1x1, 3x3 bottleneck, 5x5
    /// bottleneck, pool reduce, 3x3, 5x5) so weight streams match the reference; nodes follow the data flow.
    mutating func lucentMixed(_ x: String, _ name: String, _ inC: Int, _ c1: Int, _ c3r: Int, _ c3: Int,
                              _ c5r: Int, _ c5: Int, _ pool: Int) -> String {
        func pre(_ branch: String) -> String { "\(name)_\(branch)_pre_relu_conv" }
        let b1 = relu(conv(x, pre("1x1"), inC, c1, k: 1), "\(name)_1x1")
        let r3 = relu(conv(x, pre("3x3_bottleneck"), inC, c3r, k: 1), "\(name)_3x3_bottleneck")
        let r5 = relu(conv(x, pre("5x5_bottleneck"), inC, c5r, k: 1), "\(name)_5x5_bottleneck")
        let p = maxPool(x, "\(name)_pool", k: 3, stride: 1, pads: [1, 1, 1, 1])
        let b4 = relu(conv(p, pre("pool_reduce"), inC, pool, k: 1), "\(name)_pool_reduce")
        let b2 = relu(conv(r3, pre("3x3"), c3r, c3, k: 3), "\(name)_3x3")
        let b3 = relu(conv(r5, pre("5x5"), c5r, c5, k: 5), "\(name)_5x5")
        return concat([b1, b2, b3, b4], name)
    }

    mutating func buildInceptionV1() -> String {
        var x = relu(conv("input", "conv2d0_pre_relu_conv", 3, 64, k: 7, stride: 2, pads: [2, 2, 3, 3]), "conv2d0")
        x = maxPool(x, "maxpool0", k: 3, stride: 2, pads: [0, 0, 1, 1])
        x = lrn(x, "localresponsenorm0", size: 9, alpha: 9.99999974738e-05, beta: 0.5, bias: 1)
        x = relu(conv(x, "conv2d1_pre_relu_conv", 64, 64, k: 1), "conv2d1")
        x = relu(conv(x, "conv2d2_pre_relu_conv", 64, 192, k: 3), "conv2d2")
        x = lrn(x, "localresponsenorm1", size: 9, alpha: 9.99999974738e-05, beta: 0.5, bias: 1)
        x = maxPool(x, "maxpool1", k: 3, stride: 2, pads: [0, 0, 1, 1])
        x = lucentMixed(x, "mixed3a", 192, 64, 96, 128, 16, 32, 32)
        x = lucentMixed(x, "mixed3b", 256, 128, 128, 192, 32, 96, 64)
        x = maxPool(x, "maxpool4", k: 3, stride: 2, pads: [0, 0, 1, 1])
        x = lucentMixed(x, "mixed4a", 480, 192, 96, 204, 16, 48, 64)
        x = lucentMixed(x, "mixed4b", 508, 160, 112, 224, 24, 64, 64)
        x = lucentMixed(x, "mixed4c", 512, 128, 128, 256, 24, 64, 64)
        x = lucentMixed(x, "mixed4d", 512, 112, 144, 288, 32, 64, 64)
        x = lucentMixed(x, "mixed4e", 528, 256, 160, 320, 32, 128, 128)
        x = maxPool(x, "maxpool10", k: 3, stride: 2, pads: [0, 0, 1, 1])
        x = lucentMixed(x, "mixed5a", 832, 256, 160, 320, 48, 128, 128)
        x = lucentMixed(x, "mixed5b", 832, 384, 192, 384, 48, 128, 128)
        x = flatten(averagePool(x, "avgpool0", k: 7), "avgpool0_reshape")
        x = linear(x, "softmax2_pre_activation_matmul", 1024, 1008)
        return node("Softmax", [x], "softmax2", ["axis": .int(1)])
    }
}
