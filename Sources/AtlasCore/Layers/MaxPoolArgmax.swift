import CKernels

/// MaxPool's recording forward (`RecordsForBackward`): where the AVX-512 row kernels run and the columns vectorize
/// (unit column dilation, column stride 1 or 2), each plane's windows are searched once over the −∞ frame the
/// backward used to search them in, writing the maxima (the forward's values bit for bit: the same first maximum
/// wins) and the plane index of every first maximum, noted on the output's storage. The backward then only scatters:
/// GoogLeNet's ten pools up to inception4a took about a fifth of a feature-visualization step, two thirds of it in
/// their backward.
extension MaxPool: RecordsForBackward {
    /// The first-maximum indices behind one output (Int32 bits, one per output element, −1 where no tap won), with
    /// the input shape and pooling they were found for.
    final class Argmax {
        let input: [Int], pooling: [Int]
        let indices: Tensor

        init(input: [Int], pooling: [Int], indices: Tensor) {
            self.input = input; self.pooling = pooling; self.indices = indices
        }
    }

    /// The pooling's attributes as one list, to match a note against the layer reading it.
    var pooling: [Int] { kernel + stride + pads + dilation + [ceilMode ? 1 : 0] }

    /// Whether the 16-lane search (`argmaxFramed`) serves pools of geometry `g`: the row kernels run, column
    /// dilation 1, column stride 1 or 2, and there are outputs.
    static func searchesFramed(_ g: PoolGeometry) -> Bool {
        RowKernels.isAvailable && g.dw == 1 && (g.sw == 1 || g.sw == 2) && g.outH * g.outW > 0
    }

    /// One plane's maxima into `y` and the plane indices of their first maxima into `argmax` (−1 where no tap wins),
    /// 16 outputs at a time over the plane copied into its −∞ `frame` (`f`, `frame.count` floats).
    static func argmaxFramed(_ g: PoolGeometry, _ frame: Frame, _ src: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                             argmax: UnsafeMutablePointer<Int32>, scratch f: UnsafeMutablePointer<Float>) {
        frame.fill(f, from: src, rows: g.inH, columns: g.inW)
        ck_maxpool512_forward_argmax(f, frame.width, frame.top, frame.left, g.inW, g.outH, g.outW, g.kh, g.kw, g.sh,
                                     g.sw, g.dh, y, argmax)
    }

    /// dx of one plane (`inPlane` floats, zeroed here, while in cache): each output's gradient added at its first
    /// maximum, outputs in order.
    @inline(__always)
    static func scatter(_ gy: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>, outputs: Int,
                        into dx: UnsafeMutablePointer<Float>, inPlane: Int) {
        dx.update(repeating: 0, count: inPlane)
        for o in 0..<outputs where argmax[o] >= 0 { dx[Int(argmax[o])] += gy[o] }
    }

    public func forwardRecording(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard let g = try? geometry(x.shape), MaxPool.searchesFramed(g) else { return forward(inputs) }
        let y = Tensor(uninitialized: [x.shape[0], x.shape[1], g.outH, g.outW])   // every output is written
        let indices = Tensor(uninitialized: y.shape)
        let frame = Frame(g, lanes: 16)
        let src = UnsafePointer(x.data), dst = y.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        indices.data.withMemoryRebound(to: Int32.self, capacity: indices.count) { argmax in
            g.forPlanes { p in
                Scratch.with(.layer, count: frame.count) { f in
                    MaxPool.argmaxFramed(g, frame, src + p * inPlane, y: dst + p * outPlane, argmax: argmax + p * outPlane,
                                         scratch: f)
                }
            }
        }
        y.storage.note = Argmax(input: x.shape, pooling: pooling, indices: indices)
        return y
    }

    /// The input gradient by the 16-lane search (`searchesFramed(g)`): from the first maxima noted on `output` by
    /// the recording forward, or, without a note, searched again plane by plane.
    func backwardSixteenLanes(_ g: PoolGeometry, _ x: Tensor, output: Tensor, gradOutput: Tensor) -> Tensor {
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        let gx = Tensor(uninitialized: x.shape)   // every plane is zeroed by its scatter
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        var noted = false
        withRecordedArgmax(output, input: x.shape) { argmax in
            g.forPlanes { p in
                MaxPool.scatter(gy + p * outPlane, argmax + p * outPlane, outputs: outPlane, into: dst + p * inPlane,
                                inPlane: inPlane)
            }
            noted = true
        }
        if noted { return gx }
        let frame = Frame(g, lanes: 16)
        g.forPlanes { p in
            // Scratch: the frame, then the plane's maxima and their indices.
            Scratch.with(.layer, count: frame.count + 2 * outPlane) { f in
                let y = f + frame.count
                (y + outPlane).withMemoryRebound(to: Int32.self, capacity: outPlane) { argmax in
                    MaxPool.argmaxFramed(g, frame, src + p * inPlane, y: y, argmax: argmax, scratch: f)
                    MaxPool.scatter(gy + p * outPlane, argmax, outputs: outPlane, into: dst + p * inPlane, inPlane: inPlane)
                }
            }
        }
        return gx
    }

    /// Runs `body` with the first-maximum indices the recording forward noted on `output` for an input of shape
    /// `input`; does nothing when there is no such note.
    func withRecordedArgmax(_ output: Tensor, input: [Int], _ body: (UnsafePointer<Int32>) -> Void) {
        guard output.offset == 0, let a = output.storage.note as? Argmax, a.input == input, a.pooling == pooling,
              a.indices.count == output.count else { return }
        a.indices.data.withMemoryRebound(to: Int32.self, capacity: a.indices.count) { body(UnsafePointer($0)) }
    }
}
