/// Tests of the cluster job templates: the Slurm submit script has the array, `--shard auto`, the afterok
/// merge and passes `bash -n`; the Kubernetes YAML is an Indexed Job plus a merge Job with consistent structure.
import AtlasJobs
import AtlasMap
import Foundation
import XCTest

final class JobTemplateTests: XCTestCase {
    let command = ["gallery", "model dir/m.onnx", "--layer", "mixed4a", "--channels", "0..7,12", "--out", "/shared/out"]

    /// `bash -n` on `script`: its exit status and stderr.
    func bashSyntax(_ script: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-n"]
        let input = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, message)
    }

    func testSlurmScriptSubmitsAnArrayAndADependentMerge() throws {
        let plan = try JobPlan(arguments: command, shards: 4, executable: "/opt/atlas/bin/atlas", cpus: 16)
        let script = JobTemplates.slurm(plan, time: "2:00:00", partition: "cpu", memory: "8G", account: nil)
        for piece in ["#!/bin/bash", "array_id=$(sbatch --parsable <<'ATLAS_SHARDS'", "#SBATCH --array=0-3", "#SBATCH --cpus-per-task=16",
                      "#SBATCH --time=2:00:00", "#SBATCH --partition=cpu", "#SBATCH --mem=8G",
                      "exec /opt/atlas/bin/atlas gallery 'model dir/m.onnx' --layer mixed4a --channels 0..7,12 --out /shared/out --shard auto",
                      "sbatch --parsable --dependency=afterok:\"$array_id\" <<'ATLAS_MERGE'", "#SBATCH --job-name=atlas-gallery-merge",
                      "exec /opt/atlas/bin/atlas merge /shared/out", "mkdir -p /shared/out/shards/logs"] {
            XCTAssertTrue(script.contains(piece), "missing \(piece) in\n\(script)")
        }
        XCTAssertFalse(script.contains("--account"))
        let (status, message) = try bashSyntax(script)
        XCTAssertEqual(status, 0, message)
        XCTAssertNotEqual(try bashSyntax(script.replacingOccurrences(of: "ATLAS_MERGE\n)", with: "ATLAS_MERGE\n")).0, 0, "bash -n cannot fail")
    }

    /// collect: array + merge as for a gallery; map: a --layout-only job first, the array after it, then the merge.
    func testSlurmScriptsForCollectAndMap() throws {
        let collect = JobTemplates.slurm(try JobPlan(arguments: ["collect", "m.onnx", "--images", "/d/img", "--layer", "x", "--out", "/s/acts"],
                                                     shards: 3), time: nil, partition: nil, memory: nil, account: nil)
        XCTAssertTrue(collect.contains("exec atlas collect m.onnx --images /d/img --layer x --out /s/acts --shard auto --quiet"), collect)
        XCTAssertTrue(collect.contains("array_id=$(sbatch --parsable <<'ATLAS_SHARDS'"), collect)
        XCTAssertFalse(collect.contains("--layout-only"))
        XCTAssertEqual(try bashSyntax(collect).0, 0)

        let args = ["map", "m.onnx", "--activations", "/s/acts", "--layer", "x", "--grid", "20,40", "--out", "/s/atlas"]
        let map = JobTemplates.slurm(try JobPlan(arguments: args, shards: 3, cpus: 4), time: "1:00:00", partition: nil, memory: nil, account: nil)
        let pieces = ["layout_id=$(sbatch --parsable <<'ATLAS_LAYOUT'", "#SBATCH --job-name=atlas-map-layout",
                      "exec atlas map m.onnx --activations /s/acts --layer x --grid 20,40 --out /s/atlas --layout-only --quiet",
                      "array_id=$(sbatch --parsable --dependency=afterok:\"$layout_id\" <<'ATLAS_SHARDS'",
                      "exec atlas map m.onnx --activations /s/acts --layer x --grid 20,40 --out /s/atlas --shard auto --quiet",
                      "merge_id=$(sbatch --parsable --dependency=afterok:\"$array_id\" <<'ATLAS_MERGE'", "exec atlas merge /s/atlas"]
        var at = map.startIndex
        for piece in pieces {   // in this order
            guard let r = map.range(of: piece, range: at..<map.endIndex) else { return XCTFail("missing or out of order: \(piece) in\n\(map)") }
            at = r.upperBound
        }
        XCTAssertEqual(map.components(separatedBy: "#SBATCH --time=1:00:00").count, 4, "the time limit on all three jobs")
        let (status, message) = try bashSyntax(map)
        XCTAssertEqual(status, 0, message)
        XCTAssertThrowsError(try JobPlan(arguments: args + ["--layout-only"], shards: 3))
        let yaml = try JobTemplates.kubernetes(try JobPlan(arguments: args, shards: 3), image: "i", claim: "c", mount: "/s", memory: nil)
        XCTAssertTrue(yaml.contains("first run the command with --layout-only"), yaml)
        for document in yaml.components(separatedBy: "\n---\n") { try checkStructure(document) }
    }

    func testKubernetesIndexedJobAndMergeJob() throws {
        let plan = try JobPlan(arguments: command, shards: 4, cpus: 8, name: "My_Gallery")
        let yaml = try JobTemplates.kubernetes(plan, image: "registry.example/atlas:1", claim: "atlas-data", mount: "/shared", memory: "4Gi")
        let documents = yaml.components(separatedBy: "\n---\n")
        XCTAssertEqual(documents.count, 2)
        for piece in ["completionMode: Indexed", "completions: 4", "parallelism: 4", "name: my-gallery-shards", "claimName: \"atlas-data\"",
                      "mountPath: \"/shared\"", "image: \"registry.example/atlas:1\"", "restartPolicy: Never"] {
            XCTAssertTrue(documents[0].contains(piece), "missing \(piece) in\n\(documents[0])")
        }
        XCTAssertTrue(documents[1].contains("name: my-gallery-merge"))
        XCTAssertFalse(documents[1].contains("completionMode"))
        for document in documents { try checkStructure(document) }

        let commands = try yaml.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("command:") }.map { line in
            let value = line.split(separator: ":", maxSplits: 1)[1]
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String])
        }
        XCTAssertEqual(commands.count, 2)
        XCTAssertEqual(commands[0], ["atlas"] + command + ["--shard", "auto/4", "--quiet"])
        XCTAssertEqual(commands[1].prefix(2), ["/bin/sh", "-c"])
        XCTAssertTrue(commands[1][2].contains("atlas merge /shared/out") && commands[1][2].contains("-eq 75"), commands[1][2])
        XCTAssertEqual(try bashSyntax(commands[1][2]).0, 0)

        XCTAssertThrowsError(try JobTemplates.kubernetes(plan, image: "i", claim: "c", mount: "/data", memory: nil)) {
            XCTAssertTrue("\($0)".contains("inside the shared volume"), "\($0)")
        }
    }

    /// A small YAML block-structure check: two-space indentation, no tabs, every `key:` without a value opens a
    /// more deeply indented block, and `{…}` flow mappings are balanced `key: value` pairs.
    func checkStructure(_ document: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let lines = document.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        var sawKind = false
        for (k, text) in lines.enumerated() {
            XCTAssertFalse(text.contains("\t"), text, file: file, line: line)
            let indent = text.prefix { $0 == " " }.count
            XCTAssertEqual(indent % 2, 0, "odd indentation: \(text)", file: file, line: line)
            var body = text.dropFirst(indent)
            if body.hasPrefix("- ") { body = body.dropFirst(2) }
            if body.hasPrefix("{") {
                XCTAssertTrue(body.hasSuffix("}"), text, file: file, line: line)
                for pair in body.dropFirst().dropLast().split(separator: ",") {
                    XCTAssertEqual(pair.split(separator: ":", maxSplits: 1).count, 2, "flow pair '\(pair)'", file: file, line: line)
                }
                continue
            }
            guard let colon = body.firstIndex(of: ":") else { XCTFail("not key: value: \(text)", file: file, line: line); continue }
            if body[body.index(after: colon)...].isEmpty {
                let next = k + 1 < lines.count ? lines[k + 1].prefix { $0 == " " }.count : -1
                XCTAssertGreaterThan(next, indent, "empty block after \(text)", file: file, line: line)
            }
            if text == "kind: Job" { sawKind = true }
        }
        XCTAssertTrue(sawKind && lines.first == "apiVersion: batch/v1", file: file, line: line)
    }

    func testPlanRejectsCommandsItCannotShard() {
        func message(_ args: [String]) -> String {
            do { _ = try JobPlan(arguments: args, shards: 4); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(["gallery", "m.onnx", "--layer", "x"]).contains("--out"))
        XCTAssertTrue(message(["gallery", "m.onnx", "--out", "/o", "--shard", "0/4"]).contains("leave --shard out"))
        XCTAssertTrue(message(["inspect", "m.onnx", "--out", "/o"]).contains("must be one of"))
        XCTAssertTrue(message([]).contains("must be one of"))
        XCTAssertEqual(try JobPlan(arguments: ["gallery", "m", "--out=/x/y"], shards: 2).outDir, "/x/y")
        XCTAssertEqual(JobTemplates.shellWords(["a b", "it's", "0..7,12", ""]), "'a b' 'it'\\''s' 0..7,12 ''")
    }
}
