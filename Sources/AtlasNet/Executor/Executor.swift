import AtlasCore
import Foundation

/// What a forward run keeps for `backward`: the steps it ran, the values they need, and which values
/// depend on the runtime inputs (only those carry gradients).
final class Trace {
    let plan: Plan
    let executed: [Int]
    var values: [Tensor?]
    let depends: [Bool]

    init(plan: Plan, executed: [Int], values: [Tensor?], depends: [Bool]) {
        self.plan = plan
        self.executed = executed
        self.values = values
        self.depends = depends
    }
}

extension Network {
    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs the steps needed for `targets` and returns their values by slot. `channels` (by slot) prunes channel
    /// Concats whose output only the caller reads (see `Network.forward`).
    func execute(_ plan: Plan, inputs: [String: Tensor], targets: [Int], keepForBackward: Bool,
                 channels: [Int: Set<Int>] = [:]) throws -> [Int: Tensor] {
        let slots = plan.slotNames.count
        var values = [Tensor?](repeating: nil, count: slots)
        var depends = [Bool](repeating: false, count: slots)
        for (name, slot) in plan.inputSlots {
            guard let t = inputs[name] else { throw ModelError.invalidGraph("no tensor given for input '\(name)'") }
            values[slot] = t
            depends[slot] = true
        }
        for (slot, t) in plan.constantSlots { values[slot] = t }
        let skipped = Network.prunedConcatInputs(plan, targets: targets, channels: channels)
        let executed = plan.stepsNeeded(for: targets, skipping: skipped)
        // A skipped input reads as zeros (and depends on nothing, so backward never enters its branch).
        for s in skipped { values[s] = Tensor(zeros: plan.shapes[plan.slotNames[s]] ?? []) }
        for i in executed { depends[plan.stepOutput[i]] = plan.stepInputs[i].contains { depends[$0] } }

        var keep = [Bool](repeating: false, count: slots)
        for t in targets { keep[t] = true }
        if keepForBackward {
            // The runtime inputs (the caller holds them anyway) and what each step's backward reads; the rest
            // reaches backward as shape-only placeholders.
            for slot in plan.inputSlots.values { keep[slot] = true }
            for i in executed where depends[plan.stepOutput[i]] {
                let reads = plan.steps[i].layer.backwardReads
                if reads.contains(.output) { keep[plan.stepOutput[i]] = true }
                if reads.contains(.inputs) { for s in plan.stepInputs[i] { keep[s] = true } }
            }
        }
        var lastUse = [Int](repeating: -1, count: slots)
        for (pos, i) in executed.enumerated() { for s in plan.stepInputs[i] { lastUse[s] = pos } }

        MemoryStats.resetPeak()
        var fusedInto = Set<Int>()   // Add and activation steps whose work an earlier Conv/Add step did
        for (pos, i) in executed.enumerated() {
            if fusedInto.remove(i) != nil {
                plan.timings[i].calls += 1
                for s in plan.stepInputs[i] where lastUse[s] == pos && !keep[s] { values[s] = nil }
                continue
            }
            var ins: [Tensor] = []
            ins.reserveCapacity(plan.stepInputs[i].count)
            for s in plan.stepInputs[i] {
                guard let v = values[s] else { throw ModelError.invalidGraph("value '\(plan.slotNames[s])' is not available") }
                ins.append(v)
            }
            let t0 = Network.now()
            let out: Tensor
            if let fusable = plan.steps[i].layer as? any ResidualFusable,
               let (add, residual) = Network.fusableResidual(after: pos, executed, plan, ins, values, keep: keep,
                                                             lastUse: lastUse) {
                // Conv → Add(·, r) [→ Relu…] where nothing else wants the sum's parts: one pass over each chunk.
                let next = Network.fusableActivation(after: pos + 1, executed, plan, keep: keep, lastUse: lastUse)
                let activation = next.flatMap { plan.steps[$0].layer as? any ElementwiseLayer }
                out = fusable.forward(ins, residual: residual, activation: activation)
                fusedInto.insert(add)
                if let next, activation != nil {
                    fusedInto.insert(next)
                    values[plan.stepOutput[next]] = out
                } else {
                    values[plan.stepOutput[add]] = out
                }
            } else if let next = Network.fusableActivation(after: pos, executed, plan, keep: keep, lastUse: lastUse),
               let fusable = plan.steps[i].layer as? any ActivationFusable,
               let activation = plan.steps[next].layer as? any ElementwiseLayer {
                // Conv/Add → Relu/Clip/SiLU… where nothing else wants the first output: one pass, the activation's
                // value only.
                out = fusable.forward(ins, activation: activation)
                fusedInto.insert(next)
                values[plan.stepOutput[next]] = out
            } else if keepForBackward && depends[plan.stepOutput[i]],
                      let recording = plan.steps[i].layer as? any RecordsForBackward {
                out = recording.forwardRecording(ins)   // notes what its backward needs (same values)
                values[plan.stepOutput[i]] = out
            } else {
                out = plan.steps[i].layer.forward(ins)
                values[plan.stepOutput[i]] = out
            }
            plan.timings[i].forwardSeconds += Double(Network.now() - t0) * 1e-9
            plan.timings[i].calls += 1
            // Free what no later step reads (the tensor lives on while a caller or a view holds it).
            for s in plan.stepInputs[i] where lastUse[s] == pos && !keep[s] { values[s] = nil }
        }
        peakBytes = max(peakBytes, MemoryStats.peak)

        var result: [Int: Tensor] = [:]
        for t in targets { result[t] = values[t] }
        if keepForBackward {
            for s in 0..<slots where !keep[s] { values[s] = nil }
            trace = Trace(plan: plan, executed: executed, values: values, depends: depends)
        }
        return result
    }

    /// Inputs of channel Concats (axis 1) that hold none of the channels the caller reads of the Concat's output,
    /// for outputs no executed step reads (so nothing else can see the zeros that stand in for them).
    static func prunedConcatInputs(_ plan: Plan, targets: [Int], channels: [Int: Set<Int>]) -> Set<Int> {
        guard !channels.isEmpty else { return [] }
        var skipped = Set<Int>()
        let readers = Set(plan.stepsNeeded(for: targets).flatMap { plan.stepInputs[$0] })
        for (slot, wanted) in channels where !readers.contains(slot) {
            guard let p = plan.producer[slot], let concat = plan.steps[p].layer as? Concat else { continue }
            let shapes = plan.stepInputs[p].map { plan.shapes[plan.slotNames[$0]] ?? [] }
            guard let rank = shapes.first?.count, rank >= 2, concat.axis == 1 || concat.axis == 1 - rank,
                  shapes.allSatisfy({ $0.count == rank }) else { continue }
            var first = 0
            for (k, s) in plan.stepInputs[p].enumerated() {
                let range = first..<(first + shapes[k][1])
                first = range.upperBound
                if !wanted.contains(where: range.contains) && plan.producer[s] != nil { skipped.insert(s) }
            }
        }
        // An input requested itself or read by another executed step must still be computed (computing it may
        // bring in more steps, hence the loop).
        skipped.subtract(targets)
        while true {
            let others = plan.stepsNeeded(for: targets, skipping: skipped)
                .filter { !(plan.steps[$0].layer is Concat && channels[plan.stepOutput[$0]] != nil) }
                .flatMap { plan.stepInputs[$0] }
            let next = skipped.subtracting(others)
            if next == skipped { return skipped }
            skipped = next
        }
    }

    /// The elementwise activation step right after the `ActivationFusable` step (Conv, Add, MatMul) at `pos` when it is
    /// the only reader of that step's output and the output is neither requested nor kept for backward (so no one can
    /// see that it was never materialized; activations whose gradient reads only their output, such as Relu, Clip and
    /// Sigmoid, keep it so in runs kept for backward too).
    static func fusableActivation(after pos: Int, _ executed: [Int], _ plan: Plan, keep: [Bool], lastUse: [Int]) -> Int? {
        guard pos + 1 < executed.count, plan.steps[executed[pos]].layer is any ActivationFusable else { return nil }
        let next = executed[pos + 1], convOut = plan.stepOutput[executed[pos]]
        guard plan.steps[next].layer is any ElementwiseLayer, plan.stepInputs[next] == [convOut], !keep[convOut],
              lastUse[convOut] == pos + 1 else { return nil }
        return next
    }

    /// The Add step right after the `ResidualFusable` step at `pos` and its other input, when the Add is the only
    /// reader of that step's output, the output is neither requested nor kept, and the other input has the output's
    /// shape (no broadcasting): then the step may add it itself.
    static func fusableResidual(after pos: Int, _ executed: [Int], _ plan: Plan, _ ins: [Tensor], _ values: [Tensor?],
                                keep: [Bool], lastUse: [Int]) -> (add: Int, residual: Tensor)? {
        guard pos + 1 < executed.count else { return nil }
        let step = executed[pos], next = executed[pos + 1], out = plan.stepOutput[step]
        let addInputs = plan.stepInputs[next]
        guard plan.steps[next].layer is Add, addInputs.count == 2, addInputs.filter({ $0 == out }).count == 1,
              !keep[out], lastUse[out] == pos + 1,
              let other = addInputs.first(where: { $0 != out }), let residual = values[other],
              let shape = try? plan.steps[step].layer.outputShape(ins.map(\.shape)), residual.shape == shape
        else { return nil }
        return (next, residual)
    }

    /// Whether backward result `k` is a buffer of its own: not the storage of another result, of an input, of the
    /// output or of the incoming gradient (pass-throughs and views, such as Identity's, Reshape's or Add's, share
    /// those), so the sum it starts may be overwritten by the step that takes it.
    static func isFresh(_ r: Tensor, _ k: Int, _ results: [Tensor?], besides held: [Tensor]) -> Bool {
        guard r.storage.capacity > 0, !held.contains(where: { $0.storage === r.storage }) else { return false }
        return !results.enumerated().contains { j, other in j != k && other?.storage === r.storage }
    }

    /// A shape-only stand-in for a value that was not kept (the step's `backwardReads` says it is not read).
    func placeholder(_ plan: Plan, _ slot: Int) -> Tensor {
        Tensor(placeholder: plan.shapes[plan.slotNames[slot]] ?? plan.constantSlots[slot]?.shape ?? [])
    }

    /// Propagates `seeds` (gradients by slot) back through the traced steps to `inputSlot`.
    func runBackward(_ trace: Trace, seeds: [Int: Tensor], inputSlot: Int) -> Tensor {
        let g = runBackward(trace, seeds: seeds, targets: [inputSlot])
        if let g = g[inputSlot] { return g }
        let plan = trace.plan
        return Tensor(zeros: trace.values[inputSlot]?.shape ?? plan.shapes[plan.slotNames[inputSlot]] ?? [])
    }

    /// Back-propagates `seeds` (gradients at value slots) through the executed steps in reverse and returns the
    /// gradient reaching each of `targets` (absent where none does). A target's gradient is complete when the step
    /// that produced it comes up, since every reader ran after it; the walk stops once all targets are complete.
    /// With `release`, forward values are freed as the walk passes them (the trace cannot be walked again).
    func runBackward(_ trace: Trace, seeds: [Int: Tensor], targets: Set<Int>, release: Bool = true) -> [Int: Tensor] {
        let plan = trace.plan
        let reuse = Network.reusesGradientBuffers
        var grads = GradientSums(seeds, inPlace: reuse)
        var found: [Int: Tensor] = [:]
        var pending = targets
        for i in trace.executed.reversed() {
            if pending.isEmpty { break }
            let o = plan.stepOutput[i]
            let t0 = Network.now()
            let taken = grads.takeOwned(o)   // the sum of what reached `o` (its readers all ran after this step)
            let gradient = taken?.sum
            var owned = reuse && taken?.owned == true
            if pending.contains(o) {
                pending.remove(o)
                if let g = gradient { found[o] = g; owned = false }
                if pending.isEmpty { break }   // nothing upstream is needed: skip this step's backward
            }
            defer { if release && !targets.contains(o) { trace.values[o] = nil } }   // no earlier step's backward needs it
            guard let g = gradient else { continue }
            let inputSlots = plan.stepInputs[i]
            let needs = inputSlots.map { trace.depends[$0] }
            guard needs.contains(true) else { continue }
            let ins = inputSlots.map { trace.values[$0] ?? placeholder(plan, $0) }
            if let gather = plan.steps[i].layer as? GatherLayer, let offset = gather.gradientRun(ins[0].shape) {
                // Zero outside the run the output came from: kept as that run (see GradientSums).
                grads.add(run: g, at: offset, shape: ins[0].shape, to: inputSlots[0])
            } else {
                let out = trace.values[o] ?? placeholder(plan, o)
                if owned, needs == [true], let e = plan.steps[i].layer as? any ElementwiseLayer {
                    // The sum is this step's alone: its input gradient overwrites it and stays owned.
                    grads.add(e.backwardInPlace(ins, output: out, gradOutput: g), to: inputSlots[0], owned: true)
                } else if needs == [true], let a = plan.steps[i].layer as? any AccumulatesInputGradient,
                          let sum = grads.ownedSum(inputSlots[0], shape: ins[0].shape) {
                    a.backward(ins, output: out, gradOutput: g, adding: sum)   // into the input's sum, in place
                } else {
                    let result = plan.steps[i].layer.backward(ins, output: out, gradOutput: g, needsGrad: needs)
                    for (k, s) in inputSlots.enumerated() where needs[k] && k < result.count {
                        guard let r = result[k] else { continue }
                        grads.add(r, to: s, owned: Network.isFresh(r, k, result, besides: ins + [out, g]))
                    }
                }
            }
            plan.timings[i].backwardSeconds += Double(Network.now() - t0) * 1e-9
        }
        for t in pending { if let g = grads.take(t) { found[t] = g } }   // inputs: no step produced them
        peakBytes = max(peakBytes, MemoryStats.peak)
        return found
    }
}
