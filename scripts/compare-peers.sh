#!/usr/bin/env bash
# nasd's latency engines against the runtimes users deploy with, on the same
# networks with the same weights, back to back in one command: ncnn (CPU and
# Vulkan, default options and fp32) and onnxruntime (CPU), batch 1, one
# thread. Each network is written by `nas arch export` (the ONNX and ncnn
# files `nas export` writes) and timed by scripts/peer_latency.py in the
# virtual environment scripts/python-env.sh makes in .build (never the
# system's Python). Every side runs once per round, the order reversed
# every other round; medians over rounds. One JSON line per network, then a
# Markdown table (nasd ÷ peer: below 1, nasd is faster).
#
#   scripts/compare-peers.sh [--rounds N] [--runs N] [--vulkan-runs N] [--warmup N] [ARCH_FILE...]
#
# NASD_BIN names a nas binary to use instead of building one in release.
set -euo pipefail
cd "$(dirname "$0")/.."

options=()
archs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds|--runs|--vulkan-runs|--warmup)
      [ $# -ge 2 ] || { echo "$1 needs a number" >&2; exit 2; }
      options+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1; see --help" >&2; exit 2 ;;
    *) archs+=("$1"); shift ;;
  esac
done
[ ${#archs[@]} -gt 0 ] || archs=(SearchSpaces/reference/mbv2-fm.arch SearchSpaces/reference/mbv2-fm-0.5.arch)

nas=${NASD_BIN:-.build/release/nas}
if [ -z "${NASD_BIN:-}" ]; then swift build -c release >&2; fi
python=$(scripts/python-env.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

results=()
for arch in "${archs[@]}"; do
  models="$work/$(basename "$arch" .arch)"
  "$nas" arch export "$arch" --out "$models" >&2
  line=$("$python" scripts/peer_latency.py --nas "$nas" --arch "$arch" --models "$models" ${options[@]+"${options[@]}"} 2>/dev/null)
  echo "$line"
  results+=("$line")
done

"$python" - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(line) for line in sys.argv[1:]]
def ms(r, side):
    value = r["median_ms"].get(side)
    return f"{value:.3f}" if value is not None else "-"
def ratio(r, key):
    value = r["ratios"].get(key)
    return f"{value:.2f}×" if value is not None else "-"
print()
print("| network | nasd CPU | ncnn CPU | ncnn CPU fp32 | onnxruntime | nasd ÷ ncnn | nasd ÷ onnxruntime "
      "| nasd Vulkan | ncnn Vulkan fp32 | nasd ÷ ncnn fp32 | nasd Vulkan fp16 | ncnn Vulkan default | nasd fp16 ÷ ncnn default |")
print("|---|" + "---:|" * 12)
for r in rows:
    name = r["arch"].rsplit("/", 1)[-1].removesuffix(".arch")
    print(f"| {name} | {ms(r, 'nasd_cpu')} | {ms(r, 'ncnn_cpu')} | {ms(r, 'ncnn_cpu_fp32')} | {ms(r, 'onnxruntime_cpu')} "
          f"| {ratio(r, 'cpu_vs_ncnn')} | {ratio(r, 'cpu_vs_onnxruntime')} | {ms(r, 'nasd_vulkan')} | {ms(r, 'ncnn_vulkan_fp32')} "
          f"| {ratio(r, 'vulkan_vs_ncnn_fp32')} | {ms(r, 'nasd_vulkan_fp16')} | {ms(r, 'ncnn_vulkan')} "
          f"| {ratio(r, 'vulkan_fp16_vs_ncnn_default')} |")
if rows:
    print(f"\n(milliseconds, batch 1, one thread; ncnn {rows[0]['ncnn']}, onnxruntime {rows[0]['onnxruntime']}, "
          f"Vulkan device: {rows[0]['vulkan_device'] or 'none'}; medians of {rows[0]['rounds']} rounds; "
          f"the peers through their Python bindings, whose call with no network behind it costs "
          f"{rows[0]['binding_overhead_ms']['ncnn_cpu']:.3f} ms (ncnn) and "
          f"{rows[0]['binding_overhead_ms']['onnxruntime_cpu']:.3f} ms (onnxruntime))")
PY
