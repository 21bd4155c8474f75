#!/usr/bin/python3
"""Where a training step's time goes: oneDNN's own per-primitive timings
(DNNL_VERBOSE=1 on oneDNN 2.x prints one line per executed primitive with its
implementation and milliseconds; the set-up's one-off reorders are included,
spread over the steps) summed per primitive kind, implementation
and pass, against the step time `nas bench train` measures; the remainder is
time outside oneDNN (batch copy, loss, optimiser, Swift glue).

    scripts/profile-training.py --arch ARCH [--batch 32] [--threads 1] [--layout auto]
                                [--steps 40] [--warmup 5] [--nas .build/release/nas] [--json]

Verbose mode times every primitive, which slows short ones a little: the
table is a split of the time, not a speed figure (that is `nas bench train`).
"""
import argparse
import collections
import json
import os
import subprocess
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--layout", default="auto")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--nas", default=".build/release/nas")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    env = dict(os.environ, DNNL_VERBOSE="1", OMP_WAIT_POLICY="passive")
    out = subprocess.run([a.nas, "bench", "train", "--arch", a.arch, "--batch", str(a.batch), "--threads", str(a.threads),
                          "--layout", a.layout, "--steps", str(a.steps), "--warmup", str(a.warmup), "--json"],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"nas bench train failed: {out.stderr[-2000:]}")
    # oneDNN 2.6 prefixes its lines onednn_verbose (older 2.x: dnnl_verbose).
    prefixes = ("onednn_verbose,", "dnnl_verbose,")
    lines = out.stdout.splitlines()
    verbose = [l for l in lines if l.startswith(prefixes) and l.split(",")[1] == "exec"]
    report = json.loads("\n".join(l for l in lines if not l.startswith(prefixes)))
    steps = a.warmup + a.steps
    times = collections.defaultdict(float)
    counts = collections.Counter()
    for line in verbose:
        f = line.split(",")
        # exec,cpu,<kind>,<implementation>,<pass>,<memory descriptors>,<attributes>,<aux>,<problem>,<ms>
        key = (f[3], f[4], f[5])
        times[key] += float(f[-1])
        counts[key] += 1
    step_ms = report["ms_per_step"]
    rows = sorted(((k, v / steps, counts[k] // steps) for k, v in times.items()), key=lambda r: -r[1])
    inside = sum(r[1] for r in rows)
    result = {"arch": a.arch, "batch": a.batch, "threads": a.threads, "layout": report["layout"],
              "ms_per_step": step_ms, "onednn_ms_per_step": round(inside, 4),
              "outside_onednn_ms_per_step": round(step_ms - inside, 4),
              "primitives": [{"kind": k[0], "implementation": k[1], "pass": k[2], "ms_per_step": round(ms, 4),
                              "calls_per_step": n, "share": round(ms / step_ms, 4)} for k, ms, n in rows]}
    if a.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return
    print(f"{a.arch}\nbatch {a.batch}, {a.threads} threads, {report['layout']}: {step_ms:.3f} ms/step, "
          f"oneDNN {inside:.3f} ms, outside {step_ms - inside:.3f} ms")
    print("| kind | implementation | pass | ms/step | calls/step | share |\n|---|---|---|---:|---:|---:|")
    for k, ms, n in rows:
        print(f"| {k[0]} | {k[1]} | {k[2]} | {ms:.3f} | {n} | {100 * ms / step_ms:.1f}% |")
    print(f"| (outside oneDNN) | | | {step_ms - inside:.3f} | | {100 * (step_ms - inside) / step_ms:.1f}% |")


if __name__ == "__main__":
    main()
