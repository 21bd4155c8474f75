#!/usr/bin/env bash
# Batch-1 CPU latency, nasd's engine against onnxruntime on the same network
# (built from `nas arch show --json`, exported to ONNX by PyTorch; onnxruntime
# with all graph optimisations, sequential execution), same thread count,
# back to back in one command. Prints one JSON line per architecture and
# thread count with both medians and their ratio (onnxruntime / nasd: above 1
# means nasd is faster).
#
#   scripts/compare-latency.sh [ARCH_FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(SearchSpaces/reference/mbv2-fm.arch SearchSpaces/reference/mbv2-fm-0.5.arch)

swift build -c release >/dev/null
/usr/bin/python3 -c "import onnxruntime" 2>/dev/null \
  || /usr/bin/python3 -m pip install -q onnxruntime --break-system-packages

for arch in "${archs[@]}"; do
  for threads in 1 2; do
    ours=$(.build/release/nas latency measure --arch "$arch" --engine cpu --threads $threads --json)
    ort=$(/usr/bin/python3 scripts/ort_latency.py --arch "$arch" --threads $threads 2>/dev/null)
    /usr/bin/python3 - "$ours" "$ort" <<'PY'
import json, sys
ours, ort = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "arch": ours["arch"], "threads": ours["threads"],
    "nasd_median_ms": ours["median_ms"], "onnxruntime_median_ms": ort["median_ms"],
    "onnxruntime_version": ort["onnxruntime_version"],
    "speedup": round(ort["median_ms"] / ours["median_ms"], 2),
}))
PY
  done
done
