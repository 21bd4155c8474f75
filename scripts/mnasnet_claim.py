#!/usr/bin/python3
"""The MnasNet claim, transposed to Fashion-MNIST: does the best mnasnet-fm
architecture found under the latency target reach at least the accuracy of
the best mobilenetv2-fm member, at no more than its latency?

usage: scripts/mnasnet_claim.py RUNS_DIR [--seeds 1 2 3] [--subset 50000] [--epochs 1] [--nas .build/release/nas]

RUNS_DIR holds the mnasnet-fm runs and one mobilenetv2-fm run of the same
budget. Both points are printed as the searches saw them (search proxy), then
the two architectures are retrained on more data (by default the whole 50k
training split for one epoch, mnasnet-fm's proxy recipe otherwise) at each seed and their batch-1 CPU latency measured back to
back, so the answer does not rest on one noisy search-proxy evaluation.
"""
import argparse
import json
import statistics
import subprocess
import sys


def nas(binary, *args):
    out = subprocess.run([binary, *args, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--subset", type=int, default=50000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--launches", type=int, default=7, help="latency launches per architecture")
    parser.add_argument("--nas", default=".build/release/nas")
    a = parser.parse_args()

    comparison = nas(a.nas, "compare", "--runs", a.runs)
    mnas_runs = [r for r in comparison["runs"] if r["space"] == "mnasnet-fm" and r["best_under_target"]]
    mbv2_runs = [r for r in comparison["runs"] if r["space"] == "mobilenetv2-fm"]
    if not mnas_runs or not mbv2_runs:
        sys.exit(f"{a.runs} needs mnasnet-fm runs with a candidate under the target and a mobilenetv2-fm run")

    print("search proxy, as the searches saw them (validation accuracy, CPU ms at 1 thread):")
    for r in mnas_runs:
        b = r["best_under_target"]
        print(f"  {r['run']:26s} best under {r['target_ms']} ms: {b['val_accuracy']:.4f} at {b['latency_ms']:.4f} ms  {b['hash']}")
    status = nas(a.nas, "status", mbv2_runs[0]["run"], "--runs", a.runs)
    member = max((c for c in status["candidates"] if c["status"] == "done"), key=lambda c: c["reward"])
    print(f"  {status['run']:26s} best member (by reward): {member['val_accuracy']:.4f} at {member['latency_ms']['cpu']:.4f} ms  {member['hash']}")
    dominated = [r["run"] for r in mnas_runs if r["best_under_target"]["val_accuracy"] >= member["val_accuracy"]
                 and r["best_under_target"]["latency_ms"] <= member["latency_ms"]["cpu"]]
    print(f"  runs whose best under the target matches or beats it on both: {len(dominated)} of {len(mnas_runs)}")

    best = max(mnas_runs, key=lambda r: (r["best_under_target"]["val_accuracy"], -r["best_under_target"]["latency_ms"]))
    print(f"retrained on {a.subset} images × {a.epochs} epoch(s) (2 threads), seeds {' '.join(map(str, a.seeds))}:")
    pair = [(f"mnasnet-fm best ({best['run']})", best["best_under_target"]["arch"]),
            ("mobilenetv2-fm best member", member["arch"])]
    # One launch's median can be off by 20% or more on a shared machine: take
    # the median over alternating launches of the two.
    launches = {arch: [] for _, arch in pair}
    for _ in range(a.launches):
        for _, arch in pair:
            launches[arch].append(nas(a.nas, "latency", "measure", "--arch", arch, "--threads", "1")["median_ms"])
    for label, arch in pair:
        accuracies = [nas(a.nas, "train", "--arch", arch, "--space", "SearchSpaces/mnasnet-fm.yaml", "--seed", str(s),
                          "--subset", str(a.subset), "--epochs", str(a.epochs), "--threads", "2")["val_accuracy"]
                      for s in a.seeds]
        print(f"  {label}: {arch}\n    validation accuracy {statistics.mean(accuracies):.4f} "
              f"({' '.join(f'{x:.4f}' for x in accuracies)}), CPU {statistics.median(launches[arch]):.4f} ms "
              f"(median of {a.launches} launches, {min(launches[arch]):.4f}–{max(launches[arch]):.4f})")


if __name__ == "__main__":
    main()
