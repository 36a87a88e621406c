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

    public func forwardRecording(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        guard RowKernels.isAvailable, let g = try? geometry(x.shape), g.dw == 1, g.sw == 1 || g.sw == 2,
              g.outH * g.outW > 0 else { return forward(inputs) }
        let y = Tensor(uninitialized: [x.shape[0], x.shape[1], g.outH, g.outW])   // every output is written
        let indices = Tensor(uninitialized: y.shape)
        let frame = Frame(g, lanes: 16)
        let src = UnsafePointer(x.data), dst = y.data
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        indices.data.withMemoryRebound(to: Int32.self, capacity: indices.count) { argmax in
            g.forPlanes { p in
                Scratch.with(.layer, count: frame.count) { f in
                    frame.fill(f, from: src + p * inPlane, rows: g.inH, columns: g.inW)
                    ck_maxpool512_forward_argmax(f, frame.width, frame.top, frame.left, g.inW, g.outH, g.outW, g.kh,
                                                 g.kw, g.sh, g.sw, g.dh, dst + p * outPlane, argmax + p * outPlane)
                }
            }
        }
        y.storage.note = Argmax(input: x.shape, pooling: pooling, indices: indices)
        return y
    }

    /// Runs `body` with the first-maximum indices the recording forward noted on `output` for an input of shape
    /// `input`; does nothing when there is no such note.
    func withRecordedArgmax(_ output: Tensor, input: [Int], _ body: (UnsafePointer<Int32>) -> Void) {
        guard output.offset == 0, let a = output.storage.note as? Argmax, a.input == input, a.pooling == pooling,
              a.indices.count == output.count else { return }
        a.indices.data.withMemoryRebound(to: Int32.self, capacity: a.indices.count) { body(UnsafePointer($0)) }
    }
}
