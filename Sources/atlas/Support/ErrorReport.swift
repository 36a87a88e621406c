import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasReduce
import AtlasServe
import AtlasVis
import Foundation

/// An error with what it concerns (a file, an option) put before its message; its exit code is the underlying
/// error's, so wrapping never changes a code.
struct InContext: Error, CustomStringConvertible {
    let context: String
    let underlying: Error
    init(_ context: String, _ underlying: Error) { self.context = context; self.underlying = underlying }
    var description: String { "\(context): \(underlying)" }
}

/// Runs `body`, putting `context` before the message of anything it throws.
func inContext<T>(_ context: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as CommandFailure { throw e } catch { throw InContext(context, error) }
}

/// The one table from the engine's typed errors to a one-line message and a documented exit code (see `AtlasExit`
/// and the README). Commands throw these errors as they come (or `CommandFailure` for their own checks) and never
/// choose a code for an engine error themselves; nothing here looks at message text.
enum ErrorReport {
    /// Message and exit code for errors caused by user input; nil for errors ArgumentParser reports itself.
    static func classify(_ error: Error) -> (message: String, code: Int32)? {
        guard let (message, code) = table(error) else { return nil }
        return (message, code.rawValue)
    }

    private static func table(_ error: Error) -> (message: String, code: ExitCode)? {
        let usage = AtlasExit.usage, data = AtlasExit.dataError, noInput = AtlasExit.noInput, cannotCreate = AtlasExit.cannotCreate
        switch error {
        case let e as CommandFailure: return (e.message, e.code)
        case let e as InContext: return table(e.underlying).map { ("\(e.context): \($0.message)", $0.code) }
        case let e as ModelError:
            switch e {
            case .notFound, .io: return (e.description, noInput)
            case .unknownLayer, .noClassToken: return (e.description, usage)
            default: return (e.description, data)
            }
        case let e as ImageError:
            switch e.kind {
            case .notFound: return (e.description, noInput)
            case .writeFailed: return (e.description, cannotCreate)
            default: return (e.description, data)
            }
        case let e as NPY.Error:
            switch e {
            case .notFound, .io: return (e.description, noInput)
            case .writeFailed: return (e.description, cannotCreate)
            case .format: return (e.description, data)
            }
        case let e as ShapeError: return (e.description, data)
        case let e as ObjectiveError: return (e.description, usage)
        case let e as TransformError: return (e.description, usage)
        case let e as ParamError: return (e.description, usage)
        case let e as PreprocessSpecError:
            if case .sidecar = e { return (e.description, data) }
            return (e.description, usage)
        case let e as RenderError:
            if case .invalidOption = e { return (e.description, usage) }
            return (e.description, data)
        case let e as GalleryError: return (e.description, usage)
        case let e as ReduceError:
            if case .invalidParameter = e { return (e.description, usage) }
            return (e.description, data)
        case let e as ServeError:
            switch e {
            case .notAFolder: return (e.description, noInput)
            case .addressInUse, .bindRefused: return (e.description, cannotCreate)
            case .badHost: return (e.description, usage)
            }
        case let e as AttributionError:
            if case .invalidOption = e { return (e.description, usage) }
            return (e.description, data)
        case let e as CollectError:
            switch e {
            case .invalidSettings: return (e.description, usage)
            case .notFound: return (e.description, noInput)
            default: return (e.description, data)
            }
        case let e as JobError: return (e.description, data)
        case let e as ShardError: return (e.description, usage)
        case let e as JobPlanError: return (e.description, usage)
        case let e as ShardMergeError: return (e.description, e.isRetryable ? AtlasExit.shardsNotReady : data)
        case let e as OutputError:
            switch e {
            case .writeFailed: return (e.description, cannotCreate)
            case .badIndex: return (e.description, data)
            case .invalidIndex, .invalidLayout: return (e.description, AtlasExit.internalError)
            }
        case let e as DiagramError: return (e.description, e.isMissingTool ? AtlasExit.unavailable : AtlasExit.internalError)
        case let e as CocoaError:
            // Foundation file errors: writes are outputs, reads inputs.
            let message = e.localizedDescription
            if e.code.rawValue >= CocoaError.fileWriteUnknown.rawValue && e.code.rawValue <= CocoaError.fileWriteVolumeReadOnly.rawValue {
                return (message, cannotCreate)
            }
            return (message, e.code == .fileReadNoSuchFile || e.code == .fileNoSuchFile ? noInput : data)
        default: return nil
        }
    }

    /// Prints `atlas: error: …` and exits with the mapped code, or lets ArgumentParser report the error.
    static func exit(with error: Error, command: ParsableCommand.Type) -> Never {
        if let (message, code) = classify(error) {
            FileHandle.standardError.write(Data("atlas: error: \(message)\n".utf8))
            Foundation.exit(code)
        }
        command.exit(withError: error)
    }
}
