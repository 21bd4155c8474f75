"""Runs an ncnn model written by nasd in ncnn itself (the `ncnn` package
from PyPI), on its CPU path or its Vulkan path, against expected logits.

    verify_ncnn.py MODEL.param MODEL.bin INPUTS EXPECTED --shape N,C,H,W --classes K [--vulkan] [--latency-runs R]

INPUTS and EXPECTED are raw little-endian float32 (N×C×H×W images, N×K
logits from nasd's CPU engine). Prints one JSON object: max_abs_diff,
top1_agreement, the path used, with --vulkan the device ncnn picked, and
with --latency-runs the median milliseconds of R timed one-image runs on one
thread after --latency-warmup untimed ones.
Exit status 0 when the model ran, 3 when --vulkan finds no device; the
caller judges the figures.
"""
import argparse
import json
import sys

import ncnn
import numpy as np

from runtime_timing import median_ms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("param")
    p.add_argument("bin")
    p.add_argument("inputs")
    p.add_argument("expected")
    p.add_argument("--shape", required=True, help="N,C,H,W of the inputs")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--vulkan", action="store_true", help="run on ncnn's Vulkan path (lavapipe where no GPU is present)")
    p.add_argument("--latency-runs", type=int, default=0, help="timed one-image runs (0: no timing)")
    p.add_argument("--latency-warmup", type=int, default=10)
    a = p.parse_args()
    n, c, h, w = (int(v) for v in a.shape.split(","))
    images = np.fromfile(a.inputs, dtype="<f4").reshape(n, c, h, w)
    expected = np.fromfile(a.expected, dtype="<f4").reshape(n, a.classes)

    device = None
    net = ncnn.Net()
    net.opt.num_threads = 1
    # fp32 throughout, so the comparison is with the same arithmetic (ncnn defaults to fp16 storage).
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    if a.vulkan:
        if ncnn.get_gpu_count() == 0:
            print("ncnn finds no Vulkan device", file=sys.stderr)
            sys.exit(3)  # nasd records the Vulkan check as skipped
        net.opt.use_vulkan_compute = True
        device = ncnn.get_gpu_info(ncnn.get_default_gpu_index()).device_name()
    if net.load_param(a.param) != 0 or net.load_model(a.bin) != 0:
        sys.exit(f"ncnn refused {a.param} / {a.bin}")

    def run(i):
        ex = net.create_extractor()
        ex.input("image", ncnn.Mat(np.ascontiguousarray(images[i])))
        ret, out = ex.extract("logits")
        if ret != 0:
            sys.exit(f"ncnn failed on image {i} (status {ret})")
        return np.array(out).reshape(-1)

    logits = np.zeros((n, a.classes), dtype=np.float32)
    for i in range(n):
        logits[i] = run(i)

    latency_ms = median_ms(lambda: run(0), a.latency_runs, a.latency_warmup)

    json.dump({
        "max_abs_diff": float(np.max(np.abs(logits - expected))),
        "top1_agreement": float(np.mean(np.argmax(logits, 1) == np.argmax(expected, 1))),
        "path": "vulkan" if a.vulkan else "cpu",
        "device": device,
        "ncnn": getattr(ncnn, "__version__", "unknown"),
        "latency_ms": latency_ms,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
