// swift-tools-version:6.1
// Atlas benchmarks (package-benchmark). Run from this folder:
//   swift package benchmark                       # everything
//   swift package benchmark --filter "SGEMM.*"    # one group
// Timings live here, never in tests.
import PackageDescription

#if arch(x86_64)
let vectorFlags: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"]),
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]
#else
let vectorFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
#endif

let package = Package(
    name: "AtlasBenchmarks",
    dependencies: [
        .package(name: "Atlas", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The measured bodies shared by NetworkBenchmarks, VisBenchmarks and LucentExportBenchmarks.
        .target(
            name: "Workloads",
            dependencies: [
                .product(name: "AtlasNet", package: "Atlas"),
                .product(name: "AtlasVis", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Support/Workloads",
            swiftSettings: vectorFlags
        ),
        // SGEMM and convolution (forward and input gradient) throughput, with % of the machine's FP32 peak.
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "AtlasCore", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // PNG / JPEG encode and decode throughput (MB/s) on a 4096² RGB image.
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                .product(name: "AtlasImage", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/CodecBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Whole-network forward (images/s) of the model zoo: GoogLeNet, InceptionV1, ResNet-50, VGG16, batch 8.
        .executableTarget(
            name: "NetworkBenchmarks",
            dependencies: [
                "Workloads",
                .product(name: "AtlasNet", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/NetworkBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Feature-visualization icon-steps/s: InceptionV1 mixed4a channel objectives, 128 px, batch 1 / 8 / 32.
        .executableTarget(
            name: "VisBenchmarks",
            dependencies: [
                "Workloads",
                .product(name: "AtlasVis", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/VisBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // The exported Lucent InceptionV1 (ATLAS_LUCENT_ONNX, from peers/exported.py) against the built-in one:
        // forward batch 16 and vis icon-steps/s; registers nothing when the file is absent.
        .executableTarget(
            name: "LucentExportBenchmarks",
            dependencies: [
                "Workloads",
                .product(name: "AtlasNet", package: "Atlas"),
                .product(name: "AtlasVis", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/LucentExportBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Activation atlas: collect images/s, UMAP 50k×512, 16384² tile pyramid (time and peak memory).
        .executableTarget(
            name: "MapBenchmarks",
            dependencies: [
                .product(name: "AtlasMap", package: "Atlas"),
                .product(name: "AtlasReduce", package: "Atlas"),
                .product(name: "AtlasVis", package: "Atlas"),
                .product(name: "AtlasNet", package: "Atlas"),
                .product(name: "AtlasImage", package: "Atlas"),
                .product(name: "AtlasCore", package: "Atlas"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/MapBenchmarks",
            swiftSettings: vectorFlags,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
