// swift-tools-version:6.0
// Atlas — CPU feature visualization and activation atlases for ONNX convolutional networks.
import PackageDescription

/// Release builds of the numeric targets must use the CPU's vector units: without AVX2+FMA target flags,
/// `SIMD8<Float>.addProduct` lowers to one libm `fma` call per lane (measured 140× slower).
/// Package.swift is compiled for the host, so `#if arch` picks the flags of the machine that builds.
/// `-Ounchecked` (no overflow or bounds checks) only where the numeric kernels live: the tensor kernels and layers,
/// feature visualization and the atlas maths (UMAP, NN-descent, grids). The targets that parse what users bring
/// (ONNX, images, IDX files, HTTP requests) and the command line keep Swift's checks (`-O`).
#if arch(x86_64)
let vectorFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"])]
#else
let vectorFlags: [SwiftSetting] = []
#endif
let kernelFlags = vectorFlags + [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
let checkedFlags = vectorFlags + [.unsafeFlags(["-wmo"], .when(configuration: .release))]

let package = Package(
    name: "Atlas",
    products: [
        .executable(name: "atlas", targets: ["atlas"]),
        .library(name: "AtlasCore", targets: ["AtlasCore"]),
        .library(name: "AtlasImage", targets: ["AtlasImage"]),
        .library(name: "AtlasNet", targets: ["AtlasNet"]),
        .library(name: "AtlasVis", targets: ["AtlasVis"]),
        .library(name: "AtlasOutput", targets: ["AtlasOutput"]),
        .library(name: "AtlasReduce", targets: ["AtlasReduce"]),
        .library(name: "AtlasJobs", targets: ["AtlasJobs"]),
        .library(name: "AtlasMap", targets: ["AtlasMap"]),
        .library(name: "AtlasExplain", targets: ["AtlasExplain"]),
        .library(name: "AtlasServe", targets: ["AtlasServe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // libpng / libjpeg(-turbo) with a small C shim for libjpeg's setjmp error handling.
        .target(
            name: "CCodecs",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]
        ),
        // Hand-written C micro-kernels picked at run time by CPU feature (e.g. AVX-512 on CPUs that have it).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Tensor, parallelFor, SIMD kernels; each layer's forward and backward-to-input side by side.
        .target(name: "AtlasCore", dependencies: ["CKernels"], swiftSettings: kernelFlags),
        // Image type, PNG/JPEG decode/encode, resize/crop/normalize, canvas and tile pyramid.
        .target(name: "AtlasImage", dependencies: ["CCodecs", "AtlasCore"], swiftSettings: checkedFlags),
        // Graph IR, ONNX reader, load-time passes, executor (truncated forward, backward to input).
        .target(
            name: "AtlasNet",
            dependencies: ["AtlasCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto/onnx.proto"],
            swiftSettings: checkedFlags
        ),
        // Feature visualization: parameterization, transforms, objectives, renderer.
        .target(name: "AtlasVis", dependencies: ["AtlasNet", "AtlasImage", "CKernels"], swiftSettings: kernelFlags),
        // What every output folder holds: atlas.json index, viewer files, tile assembly, SHA-256, folder writes.
        .target(name: "AtlasOutput", dependencies: ["AtlasCore", "AtlasImage"], swiftSettings: checkedFlags),
        // Dimensionality reduction: UMAP (NN-descent, spectral init, SGD), PCA, trustworthiness.
        .target(name: "AtlasReduce", dependencies: ["AtlasCore"], swiftSettings: kernelFlags),
        // Jobs that outlive a process: shard specs and manifests, merge, Slurm/Kubernetes templates.
        .target(name: "AtlasJobs", dependencies: ["AtlasOutput"], swiftSettings: checkedFlags),
        // Activation atlas and galleries: collect → whiten → reduce → grid → icons → assembled output.
        .target(name: "AtlasMap", dependencies: ["AtlasVis", "AtlasOutput", "AtlasReduce", "AtlasJobs"], swiftSettings: kernelFlags),
        // Seeing why: attribution heatmaps, activation maps, network diagrams.
        .target(name: "AtlasExplain", dependencies: ["AtlasNet", "AtlasImage", "AtlasOutput"], swiftSettings: checkedFlags),
        // `atlas serve`: a SwiftNIO HTTP server for output folders (loopback by default, no escapes from the root).
        .target(
            name: "AtlasServe",
            dependencies: [
                "AtlasOutput",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: checkedFlags
        ),
        // The `atlas` command line.
        .executableTarget(
            name: "atlas",
            dependencies: [
                "AtlasCore", "AtlasImage", "AtlasNet", "AtlasVis", "AtlasOutput", "AtlasReduce", "AtlasJobs", "AtlasMap",
                "AtlasExplain", "AtlasServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: checkedFlags
        ),
        // Shared test helpers: random tensors, finite-difference gradient checks.
        .target(name: "AtlasTestSupport", dependencies: ["AtlasCore"], path: "Tests/AtlasTestSupport", swiftSettings: checkedFlags),
        .testTarget(name: "AtlasCoreTests", dependencies: ["AtlasCore", "AtlasTestSupport"], swiftSettings: checkedFlags),
        .testTarget(
            name: "AtlasImageTests", dependencies: ["AtlasImage", "AtlasTestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: checkedFlags
        ),
        .testTarget(
            name: "AtlasNetTests", dependencies: ["AtlasNet", "AtlasTestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: checkedFlags
        ),
        // Runs the built `atlas` executable (demo, classification, exit codes).
        .testTarget(
            name: "AtlasCLITests", dependencies: ["atlas", "AtlasMap", "AtlasNet", "AtlasOutput"],
            resources: [.copy("Fixtures")], swiftSettings: checkedFlags
        ),
        .testTarget(name: "AtlasVisTests", dependencies: ["AtlasVis", "AtlasTestSupport"], swiftSettings: checkedFlags),
        .testTarget(name: "AtlasMapTests", dependencies: ["AtlasMap", "AtlasOutput", "AtlasReduce", "AtlasJobs", "AtlasTestSupport"], swiftSettings: checkedFlags),
        .testTarget(name: "AtlasExplainTests", dependencies: ["AtlasExplain", "AtlasOutput", "AtlasTestSupport"], swiftSettings: checkedFlags),
        .testTarget(name: "AtlasServeTests", dependencies: ["AtlasServe", "AtlasOutput"], swiftSettings: checkedFlags),
    ],
    swiftLanguageModes: [.v5]
)
