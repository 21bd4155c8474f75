#!/usr/bin/python3
"""PyTorch peer for nasd's native trainer.

Builds a torch.nn.Module from the network IR that `nas arch show ARCH --json`
prints, so both trainers run exactly the same layers, and then either

  bench  measures steady-state training throughput (forward, loss, backward,
         optimizer step) on real Fashion-MNIST batches, or
  train  trains it with the proxy recipe and reports validation accuracy.

PyTorch 1.13 CPU comes from Debian's python3-torch, so run this with the
system interpreter:  /usr/bin/python3 scripts/torch_reference.py --help
"""

import argparse
import gzip
import json
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
# Fashion-MNIST statistics, the same constants the Swift input pipeline uses.
MEAN, STD = 0.2860, 0.3530
# Augmentation pads with a black pixel, which after normalisation is not 0.
BLACK = (0.0 - MEAN) / STD
CROP_PADDING = 2


# --------------------------------------------------------------------------
# Network IR → torch.nn.Module
# --------------------------------------------------------------------------

def load_ir(args):
    """The IR from --ir-json, or from `nas arch show --json` for --arch."""
    if args.ir_json:
        return json.loads(Path(args.ir_json).read_text())
    nas = Path(args.nas) if args.nas else default_nas()
    result = subprocess.run([str(nas), "arch", "show", args.arch, "--json"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{nas} arch show failed:\n{result.stderr}")
    return json.loads(result.stdout)


def default_nas():
    """Prefer the release build; the debug build is what exists mid-development."""
    for build in ("release", "debug"):
        path = REPO_ROOT / ".build" / build / "nas"
        if path.exists():
            return path
    sys.exit("no nas binary under .build/{release,debug}; pass --nas PATH")


class IRNetwork(nn.Module):
    """Executes the IR layers in index order; each reads the outputs its
    `inputs` name (empty = the network input). Ops without parameters are run
    functionally, so the module holds exactly the IR's trainable tensors."""

    def __init__(self, ir):
        super().__init__()
        self.ir_layers = ir["layers"]
        for i, layer in enumerate(self.ir_layers):
            if layer["index"] != i:
                raise ValueError(f"layer {layer['name']} has index {layer['index']}, expected {i}")
        # One slot per layer; None for parameter-free ops keeps indices aligned.
        self.ops = nn.ModuleList(self._module(layer) for layer in self.ir_layers)

    @staticmethod
    def _module(layer):
        kind = layer["kind"]
        in_c, out_c = layer["input"][0], layer["output"][0]
        if kind == "conv":
            kh, kw = layer["kernel"]
            # The IR defines conv padding as (k-1)/2 per side ("same" for odd
            # kernels); honour an explicit "padding" field when present.
            padding = tuple(layer.get("padding", [(kh - 1) // 2, (kw - 1) // 2]))
            return nn.Conv2d(in_c, out_c, (kh, kw), stride=layer["stride"], padding=padding,
                             groups=layer["groups"], bias=layer["bias"])
        if kind == "batch_norm":
            return nn.BatchNorm2d(in_c, eps=1e-5, momentum=0.1)
        if kind == "linear":
            return nn.Linear(in_c, out_c, bias=True)
        if kind in ("relu6", "relu", "sigmoid", "add", "channel_scale", "global_avg_pool"):
            return None
        raise ValueError(f"unknown layer kind {kind!r} ({layer['name']})")

    def layer_outputs(self, x):
        """Every layer's output, in index order."""
        outputs = []
        for layer, op in zip(self.ir_layers, self.ops):
            args = [outputs[i] for i in layer["inputs"]] or [x]
            outputs.append(apply_layer(layer["kind"], op, args))
        return outputs

    def forward(self, x):
        return torch.flatten(self.layer_outputs(x)[-1], 1)   # logits, N×classes

    @torch.no_grad()
    def check_shapes(self, input_shape):
        """Compares every layer's output shape with the IR on two images, so a
        misread field fails loudly instead of benchmarking another network."""
        was_training = self.training
        self.eval()
        for layer, y in zip(self.ir_layers, self.layer_outputs(torch.zeros(2, *input_shape))):
            if list(y.shape) != [2] + list(layer["output"]):
                raise ValueError(f"layer {layer['name']}: output {list(y.shape)}, IR says {layer['output']}")
        self.train(was_training)


def apply_layer(kind, op, args):
    if kind in ("conv", "batch_norm"):
        return op(args[0])
    if kind == "relu6":
        return F.relu6(args[0])
    if kind == "relu":
        return F.relu(args[0])
    if kind == "sigmoid":
        return torch.sigmoid(args[0])
    if kind == "add":
        return args[0] + args[1]
    if kind == "channel_scale":
        return args[0] * args[1]                 # N×C×H×W times N×C×1×1
    if kind == "global_avg_pool":
        return args[0].mean((2, 3), keepdim=True)
    if kind == "linear":
        # Keep the IR's N×C×1×1 shape so any later layer sees a 4-D tensor.
        return op(torch.flatten(args[0], 1))[:, :, None, None]
    raise ValueError(f"unknown layer kind {kind!r}")


def build_network(ir, memory_format, init="fan-in-uniform"):
    """The IR as a module; `init` as nasd's `--init`: fan-in-uniform keeps
    PyTorch's default initialisation, he-normal redraws as nasd's first recipe."""
    net = IRNetwork(ir)
    net.check_shapes(ir["input"])
    count = sum(p.numel() for p in net.parameters())
    if count != ir["params"]:
        print(f"parameter count mismatch: module {count}, IR {ir['params']}", file=sys.stderr)
    assert count == ir["params"], (count, ir["params"])
    if init == "he-normal":
        he_initialise(net)
    return net.to(memory_format=memory_format)


def he_initialise(net):
    """He-normal (fan_in, ReLU gain) conv/linear weights, zero biases; BN keeps
    PyTorch's γ=1, β=0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def sgd(net, lr):
    """Nesterov SGD; weight decay on conv and linear weights only (not biases,
    not BN), as the Swift optimizer does."""
    decay, no_decay = [], []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            decay.append(m.weight)
            if m.bias is not None:
                no_decay.append(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            no_decay += [m.weight, m.bias]
    assert len(decay) + len(no_decay) == len(list(net.parameters()))
    return torch.optim.SGD([{"params": decay, "weight_decay": 4e-5},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=lr, momentum=0.9, nesterov=True)


# --------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------

def read_idx(path, magic):
    """IDX file: big-endian magic (2051 images, 2049 labels), then one
    big-endian uint32 per dimension, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found, = struct.unpack(">I", data[:4])
    if found != magic:
        raise ValueError(f"{path}: magic {found}, expected {magic}")
    ndim = data[3]                       # low byte of the magic = number of dims
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(prefix, side):
    """Images as an N×1×side×side float tensor (normalised, resized once,
    bilinear as the Swift pipeline does) and labels as int64."""
    images = read_idx(DATA_DIR / f"{prefix}-images-idx3-ubyte.gz", 2051)
    labels = read_idx(DATA_DIR / f"{prefix}-labels-idx1-ubyte.gz", 2049)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    if side != x.shape[-1]:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    x = (x - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x, generator):
    """Per image: shift by up to 2 pixels each way (black fill) and flip with
    probability ½, as the Swift InputPipeline does, as one gather."""
    n, _, r, _ = x.shape
    padded = F.pad(x, [CROP_PADDING] * 4, value=BLACK)
    offsets = torch.randint(0, 2 * CROP_PADDING + 1, (2, n), generator=generator)
    flip = torch.randint(0, 2, (n,), generator=generator).bool()
    span = torch.arange(r)
    rows = offsets[0, :, None] + span                                     # n×r
    cols = offsets[1, :, None] + torch.where(flip[:, None], r - 1 - span, span)
    out = padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1)


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------

def bench(args, ir, memory_format):
    side = ir["input"][1]
    images, labels = load_split("train", side)
    net = build_network(ir, memory_format, args.init)
    net.train()
    optimizer = sgd(net, args.lr)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    # Every batch is its own contiguous tensor in the chosen layout, made
    # before timing, as a data loader would hand them over; cycling through a
    # fixed shuffle keeps the batches real and distinct.
    total = args.warmup + args.steps
    order = torch.from_numpy(np.random.default_rng(args.seed).permutation(len(labels)))
    per_epoch = len(labels) // args.batch
    batches = []
    for s in range(total):
        idx = order[(s % per_epoch) * args.batch:((s % per_epoch) + 1) * args.batch]
        batches.append((images[idx].contiguous(memory_format=memory_format), labels[idx].clone()))
    del images, labels

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(net(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for x, y in batches[:args.warmup]:
        step(x, y)
    start = time.perf_counter()
    for x, y in batches[args.warmup:]:
        loss = step(x, y)
    seconds = time.perf_counter() - start
    # A diverged run (NaN arithmetic) would not be a fair speed measurement.
    print(f"final training loss {loss.item():.4f}", file=sys.stderr)

    return {"framework": "pytorch", "torch_version": torch.__version__, "arch": ir["arch"],
            "batch": args.batch, "threads": args.threads, "memory_format": args.memory_format,
            "steps": args.steps, "images_per_second": round(args.steps * args.batch / seconds, 1),
            "ms_per_step": round(1000 * seconds / args.steps, 3)}


@torch.no_grad()
def evaluate(net, images, labels, batch, memory_format):
    """Top-1 accuracy and mean cross-entropy without label smoothing, in
    evaluation mode (BN running statistics)."""
    net.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch):
        x = images[start:start + batch].contiguous(memory_format=memory_format)
        y = labels[start:start + batch]
        logits = net(x)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    net.train()
    return correct / len(labels), loss / len(labels)


def train(args, ir, memory_format):
    torch.manual_seed(args.seed)
    side = ir["input"][1]
    images, labels = load_split("train", side)
    # Fixed split of the 60k training images: numpy default_rng(2026)
    # .permutation(60000), first 50000 train, last 10000 validation. The
    # Swift trainer's split may differ; the recipe is what is being compared.
    perm = torch.from_numpy(np.random.default_rng(2026).permutation(60000))
    train_idx, val_idx = perm[:50000], perm[50000:]
    if args.subset:
        train_idx = train_idx[:args.subset]      # like Swift: the split's first N
    train_x, train_y = images[train_idx], labels[train_idx]
    val_x, val_y = images[val_idx], labels[val_idx]
    del images, labels

    net = build_network(ir, memory_format, args.init)
    net.train()
    optimizer = sgd(net, args.lr)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    # As the Swift trainer: each epoch's last partial batch is dropped, warm-up
    # steps are rounded and capped at the total, the schedule is per step.
    steps = len(train_y) // args.batch
    if steps == 0:
        sys.exit("the training subset holds fewer images than one batch")
    total_steps = args.epochs * steps
    warmup_steps = min(round(args.warmup_epochs * steps), total_steps)

    def rate(step):
        if step < warmup_steps:
            return args.lr * (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    order_rng = np.random.default_rng(args.seed)
    aug_gen = torch.Generator().manual_seed(args.seed)
    step = 0
    diverged_at = None
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.from_numpy(order_rng.permutation(len(train_y)))
        epoch_loss, epoch_correct = 0.0, 0
        for s in range(steps):
            idx = order[s * args.batch:(s + 1) * args.batch]
            x = augment(train_x[idx], aug_gen).contiguous(memory_format=memory_format)
            y = train_y[idx]
            for group in optimizer.param_groups:
                group["lr"] = rate(step)
            optimizer.zero_grad(set_to_none=True)
            logits = net(x)
            loss = criterion(logits, y)
            if not torch.isfinite(loss):
                diverged_at = step
                break
            loss.backward()
            optimizer.step()
            step += 1
            epoch_loss += loss.item()
            epoch_correct += (logits.argmax(1) == y).sum().item()
        elapsed = time.perf_counter() - start
        if diverged_at is not None:
            print(f"diverged at step {diverged_at}", file=sys.stderr)
            break
        print(f"epoch {epoch}/{args.epochs}: loss {epoch_loss / steps:.4f}, "
              f"train acc {epoch_correct / (steps * args.batch):.4f}, lr {rate(step - 1):.4f}, "
              f"{step * args.batch / elapsed:.0f} img/s, {elapsed:.1f} s", file=sys.stderr)
    seconds = time.perf_counter() - start

    result = {"framework": "pytorch", "arch": ir["arch"], "epochs": args.epochs}
    if diverged_at is not None:
        result["diverged_at_step"] = diverged_at
    else:
        accuracy, val_loss = evaluate(net, val_x, val_y, args.batch, memory_format)
        result.update(val_accuracy=round(accuracy, 4), val_loss=round(val_loss, 4))
        if args.test:
            test_x, test_y = load_split("t10k", side)
            result["test_accuracy"] = round(evaluate(net, test_x, test_y, args.batch, memory_format)[0], 4)
    result.update(train_seconds=round(seconds, 2),
                  images_per_second=round(step * args.batch / seconds, 1))
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--arch", help="architecture file or string, passed to `nas arch show --json`")
    source.add_argument("--ir-json", help="read the IR JSON from this file instead")
    p.add_argument("--nas", help="nas binary (default: .build/release/nas, else .build/debug/nas)")
    p.add_argument("--mode", choices=["bench", "train"], default="bench")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-format", choices=["channels_last", "nchw"], default="channels_last")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--init", choices=["fan-in-uniform", "he-normal"], default="fan-in-uniform",
                   help="weight initialisation, as nasd's --init (fan-in-uniform: PyTorch's default)")
    bench_args = p.add_argument_group("bench")
    bench_args.add_argument("--steps", type=int, default=200)
    bench_args.add_argument("--warmup", type=int, default=20)
    train_args = p.add_argument_group("train")
    train_args.add_argument("--epochs", type=int, default=5)
    train_args.add_argument("--warmup-epochs", type=float, default=1.0)
    train_args.add_argument("--subset", type=int, help="train on the first N images of the training split")
    train_args.add_argument("--test", action="store_true", help="also evaluate on the 10k t10k set")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    memory_format = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    ir = load_ir(args)
    result = bench(args, ir, memory_format) if args.mode == "bench" else train(args, ir, memory_format)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
