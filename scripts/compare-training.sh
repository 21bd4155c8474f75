#!/usr/bin/env bash
# Training speed, nasd against PyTorch 1.13 (Debian's python3-torch), back to
# back in one command, on the same real Fashion-MNIST batches (training split,
# prepared up front; each PyTorch batch its own contiguous channels_last
# tensor, PyTorch's faster format here), same network (built from
# `nas arch show --json`), batch, threads, loss and optimiser.
# Prints one JSON line per architecture with both figures and their ratio.
#
#   scripts/compare-training.sh [STEPS] [ARCH_FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200}; shift || true
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(SearchSpaces/reference/mbv2-fm.arch SearchSpaces/reference/mbv2-fm-0.5.arch)
threads=2 batch=128

swift build -c release >/dev/null
dpkg-query -W python3-torch >/dev/null 2>&1 || { echo "install python3-torch (apt-get install python3-torch)" >&2; exit 1; }

for arch in "${archs[@]}"; do
  ours=$(.build/release/nas bench train --arch "$arch" --batch $batch --threads $threads --steps "$steps" --warmup 20 --json)
  torch=$(/usr/bin/python3 scripts/torch_reference.py --arch "$arch" --mode bench --batch $batch --threads $threads \
          --steps "$steps" --warmup 20 --memory-format channels_last 2>/dev/null)
  /usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
ours, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "arch": ours["arch"], "batch": ours["batch"], "threads": ours["threads"],
    "nasd_images_per_second": ours["images_per_second"], "nasd_layout": ours["layout"],
    "pytorch_images_per_second": torch["images_per_second"], "pytorch_memory_format": torch["memory_format"],
    "ratio": round(ours["images_per_second"] / torch["images_per_second"], 2),
    "nasd_gflops_per_second": ours["gflops_per_second"],
    "pytorch_gflops_per_second": round(torch["images_per_second"] * 6 * ours["macs_per_image"] / 1e9, 1),
}))
PY
done
