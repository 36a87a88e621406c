import AtlasCore

/// Lowering of convolution, pooling, padding and resizing, including ONNX auto_pad and 1-D / 3-D forms
/// that map onto the 2-D layers through reshapes.
extension Lowering {
    /// Begin and end padding per spatial axis ([b1, b2, …, e1, e2, …]) from `pads` or `auto_pad`.
    static func spatialPads(_ c: Context, spatial: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Int] {
        let r = spatial.count
        let mode = try c.node.string("auto_pad", default: "NOTSET")
        switch mode {
        case "NOTSET":
            let p = try c.node.ints("pads") ?? [Int](repeating: 0, count: 2 * r)
            guard p.count == 2 * r, p.allSatisfy({ $0 >= 0 }) else { throw c.node.invalid("invalid pads \(p)") }
            return p
        case "VALID": return [Int](repeating: 0, count: 2 * r)
        case "SAME_UPPER", "SAME_LOWER":
            var begin = [Int](), end = [Int]()
            for d in 0..<r {
                let out = (spatial[d] + strides[d] - 1) / strides[d]
                let total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - spatial[d])
                let small = total / 2
                begin.append(mode == "SAME_UPPER" ? small : total - small)
                end.append(mode == "SAME_UPPER" ? total - small : small)
            }
            return begin + end
        default: throw c.node.invalid("unknown auto_pad '\(mode)'")
        }
    }

    static func lowerConv(_ c: Context) throws -> [Step] {
        let node = c.node, s = c.xShape
        let w = try c.requireConstant(1)
        let bias = node.input(2) == nil ? nil : try c.requireConstant(2)
        let r = s.count - 2
        guard r == 1 || r == 2, w.shape.count == s.count else {
            throw ModelError.unsupportedOp(op: "Conv (\(max(r, 0))-D, weight \(w.shape))", node: node.name, domain: "", opset: node.opset)
        }
        let kernel = Array(w.shape[2...])
        if let k = try node.ints("kernel_shape"), k != kernel { throw node.invalid("kernel_shape \(k) differs from the weight \(w.shape)") }
        let strides = try node.ints("strides") ?? [Int](repeating: 1, count: r)
        let dilations = try node.ints("dilations") ?? [Int](repeating: 1, count: r)
        guard strides.count == r, dilations.count == r, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw node.invalid("invalid strides \(strides) or dilations \(dilations)")
        }
        let pads = try spatialPads(c, spatial: Array(s[2...]), kernel: kernel, strides: strides, dilations: dilations)
        let groups = try node.int("group", default: 1)
        let weight = w.tensor
        if r == 2 {
            return [c.step(Conv2D(weight: weight, bias: bias?.tensor, stride: strides, pads: pads, dilation: dilations, groups: groups))]
        }
        let conv = Conv2D(weight: weight.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]), bias: bias?.tensor,
                          stride: [1, strides[0]], pads: [0, pads[0], 0, pads[1]], dilation: [1, dilations[0]], groups: groups)
        let inShape = [s[0], s[1], 1, s[2]]
        let out = try shapeOf(conv, [inShape], c)
        return c.wrapped(conv, inShape: inShape, outShape: [out[0], out[1], out[3]])
    }

    static func lowerPool(_ c: Context) throws -> [Step] {
        let node = c.node, s = c.xShape
        if node.outputs.count > 1, !node.outputs[1].isEmpty { throw node.invalid("the Indices output is not supported") }
        guard let kernel = try node.ints("kernel_shape") else { throw node.invalid("missing kernel_shape") }
        let r = kernel.count
        guard s.count == r + 2, (1...3).contains(r) else { throw node.invalid("kernel \(kernel) does not fit input \(s)") }
        let strides = try node.ints("strides") ?? [Int](repeating: 1, count: r)
        let dilations = try node.ints("dilations") ?? [Int](repeating: 1, count: r)
        guard strides.count == r, dilations.count == r else { throw node.invalid("strides/dilations do not match the kernel") }
        let pads = try spatialPads(c, spatial: Array(s[2...]), kernel: kernel, strides: strides, dilations: dilations)
        let ceil = try node.int("ceil_mode", default: 0) != 0
        func make(_ k: [Int], _ st: [Int], _ p: [Int], _ d: [Int]) throws -> Layer {
            if node.opType == "MaxPool" {
                return MaxPool(kernel: k, stride: st, pads: p, dilation: d, ceilMode: ceil)
            }
            guard d.allSatisfy({ $0 == 1 }) else { throw node.invalid("dilated AveragePool is not supported") }
            return AveragePool(kernel: k, stride: st, pads: p, ceilMode: ceil,
                               countIncludePad: try node.int("count_include_pad", default: 0) != 0)
        }
        switch r {
        case 2: return [c.step(try make(kernel, strides, pads, dilations))]
        case 1:
            let layer = try make([1, kernel[0]], [1, strides[0]], [0, pads[0], 0, pads[1]], [1, dilations[0]])
            let inShape = [s[0], s[1], 1, s[2]]
            let out = try shapeOf(layer, [inShape], c)
            return c.wrapped(layer, inShape: inShape, outShape: [out[0], out[1], out[3]])
        default:
            // 3-D pooling whose window spans only one axis and is trivial on the other two: merge those two.
            func trivial(_ d: Int) -> Bool { kernel[d] == 1 && strides[d] == 1 && pads[d] == 0 && pads[3 + d] == 0 }
            if trivial(1) && trivial(2) {
                let layer = try make([kernel[0], 1], [strides[0], 1], [pads[0], 0, pads[3], 0], [dilations[0], 1])
                let inShape = [s[0], s[1], s[2], s[3] * s[4]]
                let out = try shapeOf(layer, [inShape], c)
                return c.wrapped(layer, inShape: inShape, outShape: [s[0], s[1], out[2], s[3], s[4]])
            }
            if trivial(0) {
                let layer = try make([kernel[1], kernel[2]], [strides[1], strides[2]], [pads[1], pads[2], pads[4], pads[5]],
                                     [dilations[1], dilations[2]])
                let inShape = [s[0], s[1] * s[2], s[3], s[4]]
                let out = try shapeOf(layer, [inShape], c)
                return c.wrapped(layer, inShape: inShape, outShape: [s[0], s[1], s[2], out[2], out[3]])
            }
            throw ModelError.unsupportedOp(op: "\(node.opType) (3-D window \(kernel))", node: node.name, domain: "", opset: node.opset)
        }
    }

    static func lowerPad(_ c: Context) throws -> [Step] {
        let (pads, mode) = try padSpec(c.node, rank: c.xShape.count, constants: c.constants)
        return [c.step(Pad(pads: pads, mode: mode))]
    }

    /// A Pad node's pads (all begins, then all ends, one pair per axis of a rank-`rank` input) and mode, from its
    /// attributes (opset < 11) or constant inputs, `axes` (opset 18) expanded to every axis.
    public static func padSpec(_ node: Node, rank: Int, constants: [String: Constant]) throws -> (pads: [Int], mode: PadMode) {
        let c = Context(node: node, shapes: [], constants: constants)
        var pads: [Int]
        var value: Float = 0
        if node.opset < 11 {
            guard let p = try node.ints("pads") ?? node.ints("paddings") else { throw node.invalid("missing pads") }
            pads = p
            value = try node.float("value", default: 0)
        } else {
            pads = try c.requireConstant(1).ints
            if node.input(2) != nil {
                let v = try c.requireConstant(2)
                guard v.count == 1 else { throw node.invalid("constant_value must be a scalar") }
                value = v.floats[0]
            }
            if node.input(3) != nil {
                let axes = try c.requireConstant(3).ints.map { try c.axis($0, rank: rank) }
                guard pads.count == 2 * axes.count else { throw node.invalid("\(pads.count) pads for \(axes.count) axes") }
                var full = [Int](repeating: 0, count: 2 * rank)
                for (k, a) in axes.enumerated() {
                    full[a] = pads[k]
                    full[rank + a] = pads[axes.count + k]
                }
                pads = full
            }
        }
        guard pads.count == 2 * rank else { throw node.invalid("\(pads.count) pads for rank \(rank)") }
        switch try node.string("mode", default: "constant") {
        case "constant": return (pads, .constant(value))
        case "reflect": return (pads, .reflect)
        case "edge": return (pads, .edge)
        case let other: throw node.invalid("pad mode '\(other)' is not supported")
        }
    }

    static func lowerResize(_ c: Context) throws -> [Step] {
        let node = c.node, s = c.xShape
        let legacy = node.opType == "Upsample" || node.opset < 11
        var scales: [Float]?
        var sizes: [Int]?
        if node.opType == "Upsample" && node.opset < 9 {
            scales = try node.floats("scales")
        } else if legacy {
            scales = try c.requireConstant(1).floats
        } else {
            if node.input(3) != nil { sizes = try c.requireConstant(3).ints }
            if node.input(2) != nil, let v = c.constant(2), v.count > 0 { scales = v.floats }
            if node.input(2) != nil, c.constant(2) == nil { throw ModelError.missingInitializer(name: node.inputs[2], node: node.name) }
        }
        if let axes = try node.ints("axes") {   // opset 18: sizes/scales for some axes only
            let norm = try axes.map { try c.axis($0, rank: s.count) }
            if let given = sizes {
                guard given.count == norm.count else { throw node.invalid("sizes do not match axes") }
                var full = s
                for (k, a) in norm.enumerated() { full[a] = given[k] }
                sizes = full
            }
            if let given = scales {
                guard given.count == norm.count else { throw node.invalid("scales do not match axes") }
                var full = [Float](repeating: 1, count: s.count)
                for (k, a) in norm.enumerated() { full[a] = given[k] }
                scales = full
            }
        }
        if try node.string("keep_aspect_ratio_policy", default: "stretch") != "stretch" {
            throw node.invalid("keep_aspect_ratio_policy other than 'stretch' is not supported")
        }
        let out: [Int]
        if let sizes, !sizes.isEmpty {
            out = sizes
        } else if let scales, scales.count == s.count {
            out = zip(s, scales).map { Int((Double($0) * Double($1)).rounded(.down)) }
            for d in s.indices where s[d] > 0 && abs(Double(out[d]) / Double(s[d]) - Double(scales[d])) > 1e-5 * Double(scales[d]) {
                throw node.invalid("scale \(scales[d]) does not give a whole output size on axis \(d) (\(s[d]) → \(out[d]))")
            }
        } else {
            throw node.invalid("needs scales or sizes for every axis")
        }
        guard out.count == s.count, s.count == 4 else { throw node.invalid("only 4-D NCHW resizing is supported (input \(s))") }
        let modeName = try node.string("mode", default: "nearest")
        let mode: ResizeMode
        switch modeName {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .linear
        default: throw node.invalid("mode '\(modeName)' is not supported")
        }
        if !legacy, try node.int("antialias", default: 0) != 0, out[2] < s[2] || out[3] < s[3] {
            throw node.invalid("antialiased downsampling is not supported")
        }
        let coordinates: ResizeCoordinates
        let ctm = legacy ? "asymmetric" : try node.string("coordinate_transformation_mode", default: "half_pixel")
        switch ctm {
        case "half_pixel": coordinates = .halfPixel
        case "pytorch_half_pixel": coordinates = .pytorchHalfPixel
        case "align_corners": coordinates = .alignCorners
        case "asymmetric": coordinates = .asymmetric
        default: throw node.invalid("coordinate_transformation_mode '\(ctm)' is not supported")
        }
        if mode == .nearest {
            let nearest = legacy ? "floor" : try node.string("nearest_mode", default: "round_prefer_floor")
            let expected = coordinates == .asymmetric ? "floor" : "round_prefer_floor"
            // Asymmetric upsampling by 1× or 2× samples the same pixels with floor and round_prefer_floor.
            let equivalent = coordinates == .asymmetric && nearest == "round_prefer_floor"
                && (2...3).allSatisfy { s[$0] > 0 && out[$0] % s[$0] == 0 && (1...2).contains(out[$0] / s[$0]) }
            guard nearest == expected || equivalent else {
                throw node.invalid("nearest_mode '\(nearest)' with '\(ctm)' coordinates is not supported")
            }
        }
        return [c.step(Resize(outputSize: out, mode: mode, coordinates: coordinates))]
    }

    /// A layer's output shape, with shape errors attributed to the node.
    static func shapeOf(_ layer: Layer, _ shapes: [[Int]], _ c: Context) throws -> [Int] {
        do { return try layer.outputShape(shapes) } catch {
            throw ModelError.shape(node: c.node.name, op: c.node.opType, reason: "\(error)")
        }
    }
}
