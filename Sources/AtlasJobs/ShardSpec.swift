import Foundation

/// One machine's share of a job split `count` ways: item `i` belongs to shard `i % count`.
/// The split depends only on item order, never on thread count or timing, so reruns and merges are deterministic.
public struct ShardSpec: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else { throw ShardError.invalid("\(index)/\(count)") }
        self.index = index
        self.count = count
    }

    /// Whether item `item` (0-based, in the job's item order) is this shard's.
    public func owns(_ item: Int) -> Bool { item % count == index }

    /// The items of `0..<total` that this shard owns, in order.
    public func items(of total: Int) -> [Int] { Array(stride(from: index, to: total, by: count)) }

    public var description: String { "\(index)/\(count)" }

    /// Parses `i/n`, or `auto` / `auto/n`: Slurm's `SLURM_ARRAY_TASK_ID` (+ `SLURM_ARRAY_TASK_COUNT`), else Kubernetes'
    /// `JOB_COMPLETION_INDEX` with the count from `auto/n` or `ATLAS_SHARD_COUNT`.
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ShardSpec {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "auto" {
            guard parts.count <= 2 else { throw ShardError.invalid(text) }
            let given = parts.count == 2 ? Int(parts[1]) : nil
            if parts.count == 2 && given == nil { throw ShardError.invalid(text) }
            if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap({ Int($0) }) {
                // Array indices may start anywhere (e.g. --array=1-4): count from SLURM_ARRAY_TASK_MIN when given.
                let minID = environment["SLURM_ARRAY_TASK_MIN"].flatMap { Int($0) } ?? 0
                guard let n = given ?? environment["SLURM_ARRAY_TASK_COUNT"].flatMap({ Int($0) }) else {
                    throw ShardError.noEnvironment("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; use --shard auto/N")
                }
                return try ShardSpec(index: id - minID, count: n)
            }
            if let id = environment["JOB_COMPLETION_INDEX"].flatMap({ Int($0) }) {
                guard let n = given ?? environment["ATLAS_SHARD_COUNT"].flatMap({ Int($0) }) else {
                    throw ShardError.noEnvironment("JOB_COMPLETION_INDEX is set; give the count as --shard auto/N or ATLAS_SHARD_COUNT")
                }
                return try ShardSpec(index: id, count: n)
            }
            throw ShardError.noEnvironment("--shard auto needs SLURM_ARRAY_TASK_ID (Slurm job array) or JOB_COMPLETION_INDEX (Kubernetes Indexed Job)")
        }
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { throw ShardError.invalid(text) }
        return try ShardSpec(index: i, count: n)
    }
}

/// A shard specification that cannot be used.
public enum ShardError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case noEnvironment(String)

    public var description: String {
        switch self {
        case .invalid(let s): return "shard '\(s)': expected i/n with 0 ≤ i < n (e.g. 0/4), auto or auto/n"
        case .noEnvironment(let why): return why
        }
    }
}
