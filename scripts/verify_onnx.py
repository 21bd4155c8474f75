"""Checks an ONNX model written by nasd with the real tools: onnx's full
checker, then onnxruntime (CPU) on given inputs against expected logits.

    verify_onnx.py MODEL INPUTS EXPECTED --shape N,C,H,W --classes K [--latency-runs R]

INPUTS and EXPECTED are raw little-endian float32 (N×C×H×W images, N×K
logits from nasd's CPU engine). Prints one JSON object: max_abs_diff,
top1_agreement, the model's opset, its inputs' and outputs' names and shapes
(a symbolic dimension as its name), its metadata and, with --latency-runs,
the median milliseconds of R timed one-image runs on one thread after
--latency-warmup untimed ones. Exit status 0 when the checks ran; the caller
judges the figures.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

from runtime_timing import median_ms


def shape(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("expected")
    p.add_argument("--shape", required=True, help="N,C,H,W of the inputs")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--latency-runs", type=int, default=0, help="timed one-image runs (0: no timing)")
    p.add_argument("--latency-warmup", type=int, default=10)
    a = p.parse_args()
    n, c, h, w = (int(v) for v in a.shape.split(","))

    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)

    images = np.fromfile(a.inputs, dtype="<f4").reshape(n, c, h, w)
    expected = np.fromfile(a.expected, dtype="<f4").reshape(n, a.classes)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(a.model, options, providers=["CPUExecutionProvider"])
    # The whole batch at once: the batch dimension is symbolic.
    (logits,) = session.run(["logits"], {"image": images})

    one = {"image": np.ascontiguousarray(images[:1])}
    latency_ms = median_ms(lambda: session.run(["logits"], one), a.latency_runs, a.latency_warmup)

    json.dump({
        "max_abs_diff": float(np.max(np.abs(logits - expected))),
        "top1_agreement": float(np.mean(np.argmax(logits, 1) == np.argmax(expected, 1))),
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": {i.name: shape(i) for i in model.graph.input},
        "outputs": {o.name: shape(o) for o in model.graph.output},
        "metadata": {m.key: m.value for m in model.metadata_props},
        "nodes": sorted({node.op_type for node in model.graph.node}),
        "onnxruntime": ort.__version__,
        "latency_ms": latency_ms,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
