import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasServe
import AtlasVis
import Foundation

/// Maps the engine's typed errors to a one-line message and a documented exit code (see `AtlasExit`).
enum ErrorReport {
    /// Message and exit code for errors caused by user input; nil for errors ArgumentParser reports itself.
    static func classify(_ error: Error) -> (message: String, code: Int32)? {
        switch error {
        case let e as CommandFailure: return (e.message, e.code.rawValue)
        case let e as ModelError:
            if case let .io(path, reason) = e, reason.contains("no such file") || !FileManager.default.fileExists(atPath: path) {
                return (e.description, AtlasExit.noInput.rawValue)
            }
            return (e.description, AtlasExit.dataError.rawValue)
        case let e as ImageError:
            switch e.kind {
            case .notFound: return (e.description, AtlasExit.noInput.rawValue)
            case .writeFailed: return (e.description, AtlasExit.cannotCreate.rawValue)
            default: return (e.description, AtlasExit.dataError.rawValue)
            }
        case let e as NPY.Error:
            if case .io = e { return (e.description, AtlasExit.noInput.rawValue) }
            return (e.description, AtlasExit.dataError.rawValue)
        case let e as ShapeError: return (e.description, AtlasExit.dataError.rawValue)
        case let e as ObjectiveError: return (e.description, AtlasExit.usage.rawValue)
        case let e as TransformError: return (e.description, AtlasExit.usage.rawValue)
        case let e as ParamError: return (e.description, AtlasExit.usage.rawValue)
        case let e as PreprocessSpecError:
            if case .sidecar = e { return (e.description, AtlasExit.dataError.rawValue) }
            return (e.description, AtlasExit.usage.rawValue)
        case let e as ReduceError: return (e.description, AtlasExit.dataError.rawValue)
        case let e as ServeError:
            switch e {
            case .notAFolder: return (e.description, AtlasExit.noInput.rawValue)
            case .addressInUse, .bindRefused: return (e.description, AtlasExit.cannotCreate.rawValue)
            case .badHost: return (e.description, AtlasExit.usage.rawValue)
            }
        case let e as AttributionError:
            if case .invalidOption = e { return (e.description, AtlasExit.usage.rawValue) }
            return (e.description, AtlasExit.dataError.rawValue)
        case let e as CollectError: return (e.description, AtlasExit.dataError.rawValue)
        case let e as OutputError:
            switch e {
            case .writeFailed: return (e.description, AtlasExit.cannotCreate.rawValue)
            case .badIndex: return (e.description, AtlasExit.dataError.rawValue)
            case .invalidIndex, .invalidLayout: return (e.description, AtlasExit.internalError.rawValue)
            }
        case let e as DiagramError: return (e.description, e.isMissingTool ? AtlasExit.unavailable.rawValue : AtlasExit.internalError.rawValue)
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
