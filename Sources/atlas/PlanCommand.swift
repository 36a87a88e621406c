import ArgumentParser
import AtlasJobs
import AtlasMap
import Foundation

/// `atlas plan`: prints cluster job templates for a sharded command.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print a Slurm or Kubernetes job that runs a gallery, collection, atlas or unit pages in shards on a cluster, then merges them.",
        discussion: """
        The command after -- is what every shard runs: atlas gallery, collect, map or units, without --shard (the plan \
        adds --shard auto); its --out folder must be on storage every node shares. Save the output and submit it:

          atlas plan slurm --shards 4 --cpus 16 --time 2:00:00 -- gallery model.onnx --layer mixed4a --out /shared/out > submit.sh
          bash submit.sh
          atlas plan k8s --shards 4 --cpus 16 --image registry/atlas:1 --volume atlas-data --mount /shared \\
              -- gallery /shared/model.onnx --layer mixed4a --out /shared/out > jobs.yaml
          kubectl apply -f jobs.yaml
        """,
        subcommands: [Slurm.self, Kubernetes.self]
    )

    /// Options both templates share.
    struct Shared: ParsableArguments {
        @Option(help: "Number of shards (array tasks / indexed completions).") var shards: Int
        @Option(help: "CPUs per shard (also ATLAS_THREADS).") var cpus = 1
        @Option(help: "Job name.") var name: String?
        @Option(help: "The atlas executable on the nodes.") var atlas = "atlas"
        @Argument(parsing: .postTerminator, help: "The atlas command every shard runs, after --.") var command: [String] = []

        func plan() throws -> JobPlan {
            try JobPlan(arguments: command, shards: shards, executable: atlas, cpus: cpus, name: name)
        }
    }

    struct Slurm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slurm",
            abstract: "Print a bash script that submits a Slurm job array (one task per shard) and a dependent merge job.",
            discussion: """
            The script calls sbatch --parsable twice: the array (--array=0-(N-1), each task runs the command with \
            --shard auto, which reads SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT), then atlas merge OUT with \
            --dependency=afterok:<array id>. For map, a first job runs the command with --layout-only (collection \
            and layout, once) and the array starts after it. Logs go to OUT/shards/logs.

              atlas plan slurm --shards 4 --cpus 16 --time 2:00:00 --partition cpu -- gallery model.onnx --layer mixed4a --out /shared/out > submit.sh
              bash submit.sh
            """
        )
        @OptionGroup var shared: Shared
        @Option(help: "Time limit per task (sbatch --time, e.g. 2:00:00).") var time: String?
        @Option(help: "Partition (sbatch --partition).") var partition: String?
        @Option(help: "Memory per task (sbatch --mem, e.g. 8G).") var mem: String?
        @Option(help: "Account (sbatch --account).") var account: String?

        func run() throws {
            print(JobTemplates.slurm(try shared.plan(), time: time, partition: partition, memory: mem, account: account), terminator: "")
        }
    }

    struct Kubernetes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "k8s",
            abstract: "Print a Kubernetes Indexed Job (one completion per shard) and a merge Job, sharing one volume.",
            discussion: """
            The Indexed Job has completions = parallelism = N; each pod runs the command with --shard auto/N \
            (JOB_COMPLETION_INDEX). The merge Job retries atlas merge while it exits 75 (shards not ready), so both \
            can be applied at once. Both mount the PersistentVolumeClaim --volume (ReadWriteMany) at --mount, \
            which must contain --out.

              atlas plan k8s --shards 4 --cpus 16 --image registry/atlas:1 --volume atlas-data --mount /shared \\
                  -- gallery /shared/model.onnx --layer mixed4a --out /shared/out | kubectl apply -f -
            """
        )
        @OptionGroup var shared: Shared
        @Option(help: "Container image with atlas installed.") var image = "atlas:latest"
        @Option(help: "PersistentVolumeClaim (ReadWriteMany) shared by all pods.") var volume = "atlas-shared"
        @Option(help: "Where the volume is mounted (default: the parent folder of --out).") var mount: String?
        @Option(help: "Memory request and limit per pod (e.g. 8Gi).") var mem: String?

        func run() throws {
            let plan = try shared.plan()
            let mountPath = mount ?? (plan.outDir as NSString).deletingLastPathComponent
            print(try JobTemplates.kubernetes(plan, image: image, claim: volume, mount: mountPath, memory: mem), terminator: "")
        }
    }
}
