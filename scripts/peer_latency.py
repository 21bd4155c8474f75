"""Batch-1 latency of one network in nasd's engines and in its peers, back
to back in one process: ncnn (PyPI `ncnn`) on its CPU path and on its
Vulkan path (the same lavapipe device nasd's Vulkan engine uses here), each
with its default options (fp16 storage where the device has it) and in
fp32, and onnxruntime on the CPU. nasd's sides run `nas latency measure`.

    peer_latency.py --nas BIN --arch ARCH --models DIR [--rounds 3] [--runs 200] [--vulkan-runs 50]

DIR holds model.onnx, model.param and model.bin from `nas arch export`
(the weights nasd's engines time). Every side runs once per round, the
order reversed every other round (this machine's speed drifts), with
--warmup untimed runs first; a side's figure is the median over rounds of
its per-round medians. One thread everywhere. Prints one JSON object.
"""
import argparse
import json
import statistics
import subprocess
import sys

import os
import tempfile

import ncnn
import numpy as np
import onnx
import onnxruntime as ort

from runtime_timing import median_ms


def nasd_side(nas, arch, engine, runs, warmup, precision=None):
    extra = ["--precision", precision] if precision else []
    def measure():
        out = subprocess.run([nas, "latency", "measure", "--arch", arch, "--engine", engine, "--threads", "1",
                              "--timed-runs", str(runs), "--warmup", str(warmup), "--json"] + extra,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["median_ms"]
    return measure


def ncnn_side(models, image, vulkan, fp32, runs, warmup):
    net = ncnn.Net()
    net.opt.num_threads = 1
    if fp32:
        net.opt.use_fp16_packed = False
        net.opt.use_fp16_storage = False
        net.opt.use_fp16_arithmetic = False
    net.opt.use_vulkan_compute = vulkan
    if net.load_param(models + "/model.param") != 0 or net.load_model(models + "/model.bin") != 0:
        sys.exit(f"ncnn refused {models}/model.param / model.bin")

    def run():
        ex = net.create_extractor()
        ex.input("image", ncnn.Mat(image[0]))
        ret, _ = ex.extract("logits")
        if ret != 0:
            sys.exit(f"ncnn failed (status {ret})")
    return lambda: median_ms(run, runs, warmup)


def onnxruntime_side(models, image, runs, warmup):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(models + "/model.onnx", options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: median_ms(lambda: session.run(None, {name: image}), runs, warmup)


def binding_overhead(image, runs, warmup):
    """The peers are timed through their Python bindings; this is what one
    call costs with no network behind it (an input passed straight to the
    output), for ncnn and onnxruntime, so a reader can tell binding from
    engine on small networks."""
    folder = tempfile.mkdtemp()
    try:
        with open(folder + "/model.param", "w") as f:
            f.write("7767517\n2 2\nInput image 0 1 image\nSplit logits 1 1 image logits\n")
        open(folder + "/model.bin", "wb").close()
        shape = list(image.shape)
        graph = onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["image"], ["logits"])], "identity",
            [onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, shape)],
            [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, shape)])
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.save(model, folder + "/model.onnx")
        return {"ncnn_cpu": ncnn_side(folder, image, False, True, runs, warmup)(),
                "onnxruntime_cpu": onnxruntime_side(folder, image, runs, warmup)()}
    finally:
        for name in os.listdir(folder):
            os.remove(folder + "/" + name)
        os.rmdir(folder)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nas", required=True, help="the nas binary (a release build)")
    p.add_argument("--arch", required=True, help="architecture string or .arch file")
    p.add_argument("--models", required=True, help="folder written by `nas arch export`")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=200, help="timed runs per CPU measurement")
    p.add_argument("--vulkan-runs", type=int, default=50, help="timed runs per Vulkan measurement")
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args()
    if a.rounds < 1 or a.runs < 1 or a.vulkan_runs < 1:
        sys.exit("--rounds, --runs and --vulkan-runs take whole numbers from 1")

    shape = json.loads(subprocess.run([a.nas, "arch", "show", a.arch, "--json"], check=True, capture_output=True,
                                      text=True).stdout)["input"]
    image = np.random.default_rng(0).standard_normal([1] + shape).astype(np.float32)
    sides = {
        "nasd_cpu": nasd_side(a.nas, a.arch, "cpu", a.runs, a.warmup),
        "ncnn_cpu": ncnn_side(a.models, image, False, False, a.runs, a.warmup),
        "ncnn_cpu_fp32": ncnn_side(a.models, image, False, True, a.runs, a.warmup),
        "onnxruntime_cpu": onnxruntime_side(a.models, image, a.runs, a.warmup),
    }
    device = None
    if ncnn.get_gpu_count() > 0:
        device = ncnn.get_gpu_info(ncnn.get_default_gpu_index()).device_name()
        sides["nasd_vulkan"] = nasd_side(a.nas, a.arch, "vulkan", a.vulkan_runs, a.warmup)
        sides["nasd_vulkan_fp16"] = nasd_side(a.nas, a.arch, "vulkan", a.vulkan_runs, a.warmup, "fp16")
        sides["ncnn_vulkan"] = ncnn_side(a.models, image, True, False, a.vulkan_runs, a.warmup)
        sides["ncnn_vulkan_fp32"] = ncnn_side(a.models, image, True, True, a.vulkan_runs, a.warmup)

    rounds = {name: [] for name in sides}
    order = list(sides)
    for r in range(a.rounds):
        for name in (order if r % 2 == 0 else reversed(order)):
            rounds[name].append(sides[name]())
    medians = {name: statistics.median(values) for name, values in rounds.items()}

    def ratio(ours, theirs):
        return round(medians[ours] / medians[theirs], 3) if ours in medians and theirs in medians else None

    overhead = binding_overhead(image, a.runs, a.warmup)
    json.dump({
        "arch": a.arch, "rounds": a.rounds, "vulkan_device": device,
        "binding_overhead_ms": {name: round(value, 4) for name, value in overhead.items()},
        "ncnn": getattr(ncnn, "__version__", "unknown"), "onnxruntime": ort.__version__,
        "median_ms": {name: round(value, 4) for name, value in medians.items()},
        "rounds_ms": {name: [round(v, 4) for v in values] for name, values in rounds.items()},
        # nasd's time over the peer's: below 1, nasd is faster.
        "ratios": {
            "cpu_vs_ncnn": ratio("nasd_cpu", "ncnn_cpu"), "cpu_vs_onnxruntime": ratio("nasd_cpu", "onnxruntime_cpu"),
            "vulkan_vs_ncnn_fp32": ratio("nasd_vulkan", "ncnn_vulkan_fp32"),
            # fp16 storage against ncnn's default (fp16 storage where the device has it).
            "vulkan_fp16_vs_ncnn_default": ratio("nasd_vulkan_fp16", "ncnn_vulkan"),
        },
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
