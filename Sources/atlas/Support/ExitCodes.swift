import ArgumentParser

/// Exit codes (after BSD sysexits), listed in `atlas --help`:
/// 0 success (files skipped as unreadable are listed but do not fail a run), 64 bad usage, 65 bad input data
/// (malformed model, image or tensor file; shards or an output folder of a different job), 66 an input file is missing,
/// 69 a required tool is missing (Graphviz for atlas graph), 73 an output cannot be written (or `serve`'s port is
/// taken), 70 internal error, 75 shards not ready to merge (rerun the named shards).
enum AtlasExit {
    static let usage = ExitCode(64)
    static let dataError = ExitCode(65)
    static let noInput = ExitCode(66)
    /// A tool the command needs (Graphviz `dot`) is not installed.
    static let unavailable = ExitCode(69)
    static let internalError = ExitCode(70)
    static let cannotCreate = ExitCode(73)
    /// `atlas merge`: shards missing, unfinished or corrupt; rerunning them fixes it (EX_TEMPFAIL).
    static let shardsNotReady = ExitCode(75)

    static let helpText = """
    Exit codes: 0 success (skipped files are listed, not fatal) · 64 bad usage · 65 bad input data \
    (malformed model, image or tensor; shards or an --out folder of a different job) · 66 input missing · 69 required tool missing \
    (Graphviz) · 70 internal error · 73 output not writable (serve: port in use) · 75 shards missing, unfinished or \
    corrupt (rerun them, then merge again).
    """
}

/// An error that carries its exit code and a one-line message for the user.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let code: ExitCode
    var description: String { message }
}
