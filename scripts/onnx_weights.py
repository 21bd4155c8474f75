"""Decodes a compressed ONNX model's weights with onnxruntime itself: every
Conv and Gemm weight (a Gather from a codebook, a DequantizeLinear, or a
plain initializer) is made a graph output and computed by a session.

    onnx_weights.py MODEL OUT_DIR

Writes OUT_DIR/<weight name>.f32 (raw little-endian float32, the tensor
flattened) and prints one JSON object: weight name -> element count. nasd
compares these with its own decoding of the same weights.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("out")
    a = p.parse_args()

    model = onnx.load(a.model)
    weights = [node.input[1] for node in model.graph.node if node.op_type in ("Conv", "Gemm")]
    present = {o.name for o in model.graph.output}
    for name in weights:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    image = model.graph.input[0]
    dims = [d.dim_value or 1 for d in image.type.tensor_type.shape.dim]
    values = session.run(weights, {image.name: np.zeros(dims, dtype=np.float32)})
    os.makedirs(a.out, exist_ok=True)
    counts = {}
    for name, value in zip(weights, values):
        flat = np.ascontiguousarray(value, dtype="<f4").reshape(-1)
        flat.tofile(os.path.join(a.out, name + ".f32"))
        counts[name] = int(flat.size)
    json.dump(counts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
