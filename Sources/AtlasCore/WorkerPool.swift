import Dispatch
import Foundation
import Synchronization

/// Persistent worker threads for `Parallel.forEach`: after a job each worker spins briefly on the job counter
/// before it parks, so the many small parallel regions of a batch-1 forward and backward pass (a ResNet-50 feature
/// visualization step has hundreds) start without a thread wake-up each. Dispatch's `concurrentPerform` put
/// its workers to sleep between regions: about 9% of a batch-1 step went to waking them (kernel scheduler time).
///
/// One job at a time: a caller that finds the pool busy (another thread's job) runs its own on Dispatch, through the
/// same `Job`. Work is split and pulled exactly as `Parallel` specifies, so results do not depend on which threads ran it.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// One `forEach` call: its body and index counters. Workers reach the body only through `run`.
    private final class Job: @unchecked Sendable {
        var body: ((Int) -> Void)?
        let count: Int
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        /// Helpers that may still join (threads − 1 at the start).
        let slots: Atomic<Int>
        init(body: @escaping (Int) -> Void, count: Int, helpers: Int) {
            self.body = body
            self.count = count
            slots = Atomic(helpers)
        }

        /// Pulls indices until none is left. `body` is held only inside this call (never inlined into a loop that
        /// outlives it), so once `done` reaches `count` no thread holds the caller's closure.
        @inline(never)
        func run() {
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                if i >= count { return }
                call(i)
                done.add(1, ordering: .releasing)
            }
        }

        @inline(never)
        private func call(_ i: Int) { body!(i) }
    }

    private final class Worker: @unchecked Sendable {
        let parked = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let current = Mutex<Job?>(nil)
    private let workers = Mutex<[Worker]>([])

    /// Spin iterations of an idle worker before it parks (tens of microseconds).
    private static let spins = 20_000
    /// Online CPUs when the pool started: workers spin only while `Parallel.threadCount` is at most this.
    private static let cores = Parallel.cpuCount

    /// Runs `body` over `0..<count` on the caller and `helpers` workers (the caller marked as a worker). When the
    /// pool is busy with another thread's job, on the caller and `helpers` of Dispatch's threads instead.
    func run(count: Int, helpers: Int, _ body: (Int) -> Void) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            withoutActuallyEscaping(body) { body in
                let job = Job(body: body, count: count, helpers: 0)
                DispatchQueue.concurrentPerform(iterations: helpers + 1) { _ in Parallel.asWorker { job.run() } }
                job.body = nil
            }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        let all = ensureWorkers(helpers)
        withoutActuallyEscaping(body) { body in
            let job = Job(body: body, count: count, helpers: helpers)
            current.withLock { $0 = job }
            generation.add(1, ordering: .sequentiallyConsistent)
            for w in all.prefix(helpers) where w.parked.exchange(false, ordering: .sequentiallyConsistent) { w.wake.signal() }
            job.run()
            while job.done.load(ordering: .acquiring) < count { spinPause() }
            current.withLock { $0 = nil }
            job.body = nil
        }
    }

    /// At least `n` workers (started on first need, never stopped).
    private func ensureWorkers(_ n: Int) -> [Worker] {
        workers.withLock { list in
            while list.count < n {
                let w = Worker()
                list.append(w)
                let thread = Thread { [unowned self] in self.loop(w) }
                thread.stackSize = 8 << 20
                thread.start()
            }
            return list
        }
    }

    private func loop(_ w: Worker) {
        Parallel.markWorkerThread()
        var seen = generation.load(ordering: .acquiring)
        while true {
            // Spin while the machine has a core for it, then park until a job is published.
            var spun = 0
            let spinLimit = Parallel.threadCount <= WorkerPool.cores ? WorkerPool.spins : 0
            while generation.load(ordering: .acquiring) == seen && spun < spinLimit { spun += 1; spinPause() }
            if generation.load(ordering: .acquiring) == seen {
                // Store, then load (both sequentially consistent): the publisher sees the flag or we see its job.
                w.parked.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) != seen {
                    // A job came in meanwhile: un-park unless its publisher already did (then take its signal).
                    if !w.parked.exchange(false, ordering: .sequentiallyConsistent) { w.wake.wait() }
                } else {
                    w.wake.wait()
                }
            }
            seen = generation.load(ordering: .acquiring)
            guard let job = current.withLock({ $0 }) else { continue }
            if job.slots.subtract(1, ordering: .relaxed).oldValue > 0 { job.run() }
        }
    }

    /// One spin-loop step: a relaxed atomic load, which keeps the loop from being folded away.
    @inline(__always) private func spinPause() { _ = spinCell.load(ordering: .relaxed) }
}

private let spinCell = Atomic<Int>(0)
