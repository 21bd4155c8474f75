"""Checks an ONNX model written by nasd with the real tools: onnx's full
checker, then onnxruntime (CPU) on given inputs against expected logits.

    verify_onnx.py MODEL INPUTS EXPECTED --shape N,C,H,W --classes K [--latency-runs R]
                   [--literal] [--baseline FP32_MODEL]

INPUTS and EXPECTED are raw little-endian float32 (N×C×H×W images, N×K
logits from nasd's CPU engine). Prints one JSON object: max_abs_diff,
top1_agreement, the model's opset, its inputs' and outputs' names and shapes
(a symbolic dimension as its name), its metadata and, with --latency-runs,
the median milliseconds of R timed one-image runs on one thread after
--latency-warmup untimed ones. Exit status 0 when the checks ran; the caller
judges the figures.

--literal checks the graph as written, with onnxruntime's graph
optimisations off: a model with quantised activations (QuantizeLinear →
DequantizeLinear pairs) is then computed in float exactly as its operators
say, which is what nasd's CPU engine computes. The timing, and a second
comparison (optimised_*), use the optimised session, where onnxruntime fuses
those pairs into integer kernels (QLinearConv…) as a deployment runs them.
--baseline times another model (the fp32 export) in the same process, in
alternating blocks with MODEL, for a ratio free of the machine's drift.
"""
import argparse
import json
import statistics
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
    p.add_argument("--literal", action="store_true", help="check with graph optimisations off")
    p.add_argument("--baseline", help="a model to time against MODEL, blocks alternated")
    a = p.parse_args()
    n, c, h, w = (int(v) for v in a.shape.split(","))

    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)

    images = np.fromfile(a.inputs, dtype="<f4").reshape(n, c, h, w)
    expected = np.fromfile(a.expected, dtype="<f4").reshape(n, a.classes)
    def open_session(path, optimised=True):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        if not optimised:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    session = open_session(a.model)
    checked = open_session(a.model, optimised=False) if a.literal else session
    # The whole batch at once: the batch dimension is symbolic.
    (logits,) = checked.run(["logits"], {"image": images})
    report = {}
    if a.literal:
        (optimised,) = session.run(["logits"], {"image": images})
        report["optimised_max_abs_diff"] = float(np.max(np.abs(optimised - expected)))
        report["optimised_top1_agreement"] = float(np.mean(np.argmax(optimised, 1) == np.argmax(expected, 1)))

    one = {"image": np.ascontiguousarray(images[:1])}
    if not a.baseline:
        latency_ms = median_ms(lambda: session.run(["logits"], one), a.latency_runs, a.latency_warmup)
    elif a.latency_runs <= 0:
        latency_ms = None
    else:
        baseline = open_session(a.baseline)
        model_times, baseline_times = [], []
        for _ in range(5):
            baseline_times.append(median_ms(lambda: baseline.run(["logits"], one), a.latency_runs, a.latency_warmup))
            model_times.append(median_ms(lambda: session.run(["logits"], one), a.latency_runs, a.latency_warmup))
        latency_ms = statistics.median(model_times)
        report["baseline_latency_ms"] = statistics.median(baseline_times)

    json.dump(report | {
        "max_abs_diff": float(np.max(np.abs(logits - expected))),
        "mean_abs_diff": float(np.mean(np.abs(logits - expected))),
        "logit_range": float(np.max(expected) - np.min(expected)),
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
