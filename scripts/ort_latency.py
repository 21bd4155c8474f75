#!/usr/bin/python3
"""onnxruntime peer for nasd's CPU inference latency benchmark.

Builds the same torch.nn.Module as torch_reference.py from the network IR
(`nas arch show ARCH --json`), exports it to ONNX with a fixed batch of 1, and
times onnxruntime's CPU execution provider with the protocol `nas latency`
uses: --warmup untimed runs, then --runs individually timed runs summarised by
median, p10, p90 and median absolute deviation. Prints one JSON line.

Needs onnxruntime for Debian's interpreter (which supplies torch and onnx):
  /usr/bin/python3 -m pip install onnxruntime --break-system-packages
  /usr/bin/python3 scripts/ort_latency.py --arch SearchSpaces/reference/mbv2-fm.arch --threads 1
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

# Reuse the IR loader and module builder, so both peers run exactly the same layers.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_reference  # noqa: E402

TOLERANCE = 1e-4   # largest accepted |ORT − torch| on the logits


def build_model(ir, seed):
    """The IR network in eval mode with deterministic random weights."""
    torch.manual_seed(seed)
    net = torch_reference.build_network(ir, torch.contiguous_format)
    # Random BN affine and running statistics: with PyTorch's defaults
    # (γ=1, β=0, μ=0, σ²=1) BN would be an identity, and a correctness check
    # against it could not catch mis-folded BN.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def export_onnx(net, input_shape, path):
    """ONNX opset 13, input "image" with a fixed [1, C, H, W] shape so the
    runtime can specialise for batch 1 as our engine does."""
    dummy = torch.zeros(1, *input_shape)
    torch.onnx.export(net, dummy, str(path), opset_version=13, input_names=["image"],
                      output_names=["logits"], do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)))


def session(path, threads):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1   # sequential mode: one graph-level thread
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(run, warmup, runs):
    """Warm-up, then each run timed on its own, in milliseconds."""
    for _ in range(warmup):
        run()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter_ns()
        run()
        times[i] = (time.perf_counter_ns() - start) / 1e6
    # numpy's default "linear" percentile is the same interpolation as
    # gsl_stats_quantile_from_sorted_data, which our statistics use.
    p10, median, p90 = np.percentile(times, [10, 50, 90])
    mad = np.median(np.abs(times - median))   # unscaled, as gsl_stats_mad0
    return median, p10, p90, mad


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", help="architecture file or string, passed to `nas arch show --json`")
    source.add_argument("--ir-json", help="read the IR JSON from this file instead")
    p.add_argument("--nas", help="nas binary (default: .build/release/nas, else .build/debug/nas)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--onnx-out", help="keep the exported model at this path")
    args = p.parse_args()
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        p.error("--threads and --runs must be ≥ 1, --warmup ≥ 0")

    ir = torch_reference.load_ir(args)
    net = build_model(ir, args.seed)
    image = np.random.default_rng(args.seed).standard_normal((1, *ir["input"]), dtype=np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.onnx_out) if args.onnx_out else Path(tmp) / "model.onnx"
        export_onnx(net, ir["input"], path)
        sess = session(path, args.threads)   # loads the file; the temp dir may go

    # A speed comparison only counts if both compute the same function.
    with torch.no_grad():
        expected = net(torch.from_numpy(image)).numpy()
    got = sess.run(None, {"image": image})[0]
    diff = float(np.max(np.abs(got - expected)))
    if got.shape != expected.shape or not diff <= TOLERANCE:
        sys.exit(f"onnxruntime output differs from torch: shape {got.shape} vs {expected.shape}, "
                 f"max |diff| {diff:.3g} > {TOLERANCE}")

    # The feed is built once, so each timed call is only the inference.
    feed = {"image": image}
    median, p10, p90, mad = measure(lambda: sess.run(["logits"], feed), args.warmup, args.runs)
    r = lambda v: round(float(v), 5)   # same rounding as `nas latency --json`
    print(json.dumps({"framework": "onnxruntime", "onnxruntime_version": ort.__version__,
                      "arch": ir["arch"], "threads": args.threads,
                      "median_ms": r(median), "p10_ms": r(p10), "p90_ms": r(p90), "mad_ms": r(mad),
                      "runs": args.runs, "max_abs_diff_vs_torch": diff}))


if __name__ == "__main__":
    main()
