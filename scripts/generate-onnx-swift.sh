#!/usr/bin/env bash
# Regenerates Sources/Export/Generated/onnx.pb.swift from onnx.proto. Run by
# hand when the ONNX version changes; the output is committed, so neither
# `make` nor CI builds the protoc plugin (a 3-minute build of its own).
#
# Needs: protoc (Debian's protobuf-compiler), pip, and the package checkouts
# of `swift build` (for swift-protobuf at the version Package.swift names).
set -euo pipefail
cd "$(dirname "$0")/.."

onnx_version=${ONNX_VERSION:-1.23.2}      # the wheel that ships onnx.proto
protobuf_version=${SWIFT_PROTOBUF_VERSION:-1.39.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v protoc >/dev/null || { echo "install protoc: apt-get install protobuf-compiler" >&2; exit 1; }
python3 -m pip download --quiet --no-deps -d "$work" "onnx==$onnx_version"
python3 - "$work" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/onnx-*.whl")[0])
open(f"{work}/onnx.proto", "wb").write(wheel.read("onnx/onnx.proto"))
PY

git clone --quiet https://github.com/apple/swift-protobuf "$work/swift-protobuf"
git -C "$work/swift-protobuf" checkout --quiet "$protobuf_version"
(cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift >/dev/null)

protoc --plugin=protoc-gen-swift="$work/swift-protobuf/.build/release/protoc-gen-swift" \
  --swift_opt=Visibility=Internal --swift_out=Sources/Export/Generated --proto_path="$work" onnx.proto
echo "wrote Sources/Export/Generated/onnx.pb.swift (onnx $onnx_version, swift-protobuf $protobuf_version)"
