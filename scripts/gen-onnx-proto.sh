#!/bin/sh
# Regenerates Sources/AtlasNet/Proto/onnx.pb.swift from onnx.proto.
# Needs `protoc` and a `protoc-gen-swift` built at the swift-protobuf version that Package.resolved pins
# (the generated code must match the runtime library), e.g.:
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   cd /tmp/swift-protobuf && git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
# then run this script with PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}
if [ -z "$plugin" ] || [ ! -x "$plugin" ]; then
    echo "gen-onnx-proto: set PROTOC_GEN_SWIFT to a protoc-gen-swift binary" >&2
    exit 1
fi
cd "$root/Sources/AtlasNet/Proto"
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. --swift_opt=Visibility=Public onnx.proto
echo "wrote Sources/AtlasNet/Proto/onnx.pb.swift"
