import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// `atlas serve` as a process: the JSON address line, the loopback note, a real HTTP exchange, a clean exit 0 on
/// SIGINT and SIGTERM, and the exit codes for a taken port, a missing folder and a foreign address. Loopback only.
final class ServeCommandTests: XCTestCase {
    /// An `atlas` process: a server started with `--port 0 --json` (its address read from the first stdout line),
    /// or a command that is expected to exit on its own.
    final class AtlasProcess {
        let process = Process()
        private(set) var address: [String: Any] = [:]
        private let errors = Pipe(), out = Pipe()

        init(_ arguments: [String]) throws {
            let bundle = Bundle(for: ServeCommandTests.self).bundleURL
            process.executableURL = [bundle.appendingPathComponent("atlas"), bundle.deletingLastPathComponent().appendingPathComponent("atlas")]
                .first { FileManager.default.isExecutableFile(atPath: $0.path) }
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = errors
            try process.run()
        }

        /// Starts `atlas serve ARGUMENTS --port 0 --json` and waits (at most 20 s) for its address line.
        static func server(_ arguments: [String]) throws -> AtlasProcess {
            let p = try AtlasProcess(["serve"] + arguments + ["--port", "0", "--json"])
            var line = Data()
            let deadline = Date().addingTimeInterval(20)
            while !line.contains(UInt8(ascii: "\n")), Date() < deadline, p.process.isRunning {
                line += p.out.fileHandleForReading.availableData
            }
            p.address = (try? JSONSerialization.jsonObject(with: line) as? [String: Any]) ?? [:]
            return p
        }

        var url: String { address["url"] as? String ?? "" }

        /// Sends `signal` (none: just waits), waits for the exit (at most 10 s), returns the status and stderr.
        func finish(signal: Int32? = nil) -> (status: Int32?, stderr: String) {
            if let signal { kill(process.processIdentifier, signal) }
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate(); return (nil, "still running after 10 s") }
            return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
    }

    func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "atlas-serve-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/out/hello.json"))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func get(_ url: String) throws -> (status: Int, type: String?, body: Data) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, String?, Data)?
        URLSession.shared.dataTask(with: URL(string: url)!) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                result = (http.statusCode, http.value(forHTTPHeaderField: "Content-Type"), data ?? Data())
            }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 20) == .success, let result else { throw URLError(.timedOut) }
        return result
    }

    func testServesOnLoopbackAndStopsCleanlyOnSIGINTAndSIGTERM() throws {
        let dir = try folder()
        for signal in [SIGINT, SIGTERM] {
            let server = try AtlasProcess.server([dir])
            XCTAssertEqual(server.address["ip"] as? String, "127.0.0.1", "\(server.address)")
            XCTAssertEqual(server.address["loopback"] as? Bool, true)
            XCTAssertGreaterThan(server.address["port"] as? Int ?? 0, 0)
            let file = try get(server.url + "out/hello.json")
            XCTAssertEqual(file.status, 200)
            XCTAssertEqual(file.type, "application/json")
            XCTAssertEqual(file.body, Data("{}".utf8))
            XCTAssertEqual(try get(server.url).status, 200)  // the listing (empty here)
            XCTAssertEqual(try get(server.url + "..%2f..%2fetc%2fpasswd").status, 404)
            let (status, stderr) = server.finish(signal: signal)
            XCTAssertEqual(status, 0, "exit status after signal \(signal)\n\(stderr)")
            XCTAssertTrue(stderr.contains("loopback only") && stderr.contains("ssh -N -L"), stderr)
            XCTAssertTrue(stderr.contains("no atlas or gallery output"), stderr)
            XCTAssertTrue(stderr.hasSuffix("atlas serve: stopped\n"), stderr)
        }
    }

    func testStartErrorsHaveTheirExitCodes() throws {
        let dir = try folder()
        let server = try AtlasProcess.server([dir])
        let port = String(server.address["port"] as? Int ?? 0)
        let cases: [([String], Int32, String)] = [
            ([dir, "--port", port], 73, "already in use"),
            ([dir + "/nope", "--port", "0"], 66, "not a folder"),
            ([dir, "--host", "192.0.2.1", "--port", "0"], 64, "192.0.2.1"),  // TEST-NET-1: no address of this machine
            ([dir, "--port", "70000"], 64, "--port"),
        ]
        for (arguments, code, message) in cases {
            let (status, stderr) = try AtlasProcess(["serve"] + arguments).finish()
            XCTAssertEqual(status, code, "\(arguments): \(stderr)")
            XCTAssertTrue(stderr.contains(message), "\(arguments): \(stderr)")
        }
        XCTAssertEqual(server.finish(signal: SIGINT).status, 0)
    }
}
