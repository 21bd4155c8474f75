#!/usr/bin/python3
"""Kills nas workers at random during a real tiny run and checks that nothing
is lost or repeated (issue: scale out through PostgreSQL).

One run is evaluated by a single worker; the same run (same seed) by three
workers, one of which is killed with SIGKILL every 0.3-2.5 s (chosen by a seeded
generator) and replaced, KILLS times. Then: every candidate index appears once,
every one was committed once (one candidate-done/failed event each), and the
candidate list (architecture, status, accuracy, reward) equals the 1-worker
run's. Prints a JSON summary; exits 1 if any check fails.

    scripts/worker-kills.py --store postgres://nasd@127.0.0.1:5432/nasd [--kills 20]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid


def nas(args, binary):
    return subprocess.run([binary] + args, capture_output=True, text=True)


def candidates(status):
    rows = []
    for c in status["candidates"]:
        reward = "remeasured" if c.get("latency_remeasured") else c.get("reward")
        rows.append((c["index"], c["arch"], c["status"], c.get("val_accuracy"), reward))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=os.environ.get("NASD_STORE"), required=os.environ.get("NASD_STORE") is None)
    parser.add_argument("--nas", default=".build/release/nas")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--budget", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--lease", default="3")
    options = parser.parse_args()

    runs = tempfile.mkdtemp(prefix="nasd-kills-")
    prefix = "kills-" + uuid.uuid4().hex[:8]
    common = ["--space", "SearchSpaces/tiny.yaml", "--strategy", "evolution", "--budget", str(options.budget),
              "--seed", str(options.seed), "--threads", "1", "--runs", runs, "--store", options.store]
    worker_args = ["worker", "--store", options.store, "--threads", "1", "--lease", options.lease,
                   "--exit-when-idle", "30", "--runs", runs]
    try:
        start = time.time()
        one = prefix + "-one"
        coordinator = subprocess.Popen([options.nas, "search"] + common + ["--run", one, "--parallel", "0"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        single = subprocess.Popen([options.nas] + worker_args + ["--run", one], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        coordinator.wait()
        single.terminate()
        single.wait()
        one_seconds = time.time() - start

        cut = prefix + "-cut"
        start = time.time()
        coordinator = subprocess.Popen([options.nas, "search"] + common + ["--run", cut, "--parallel", "0"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers = [subprocess.Popen([options.nas] + worker_args + ["--run", cut], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(3)]
        pick = random.Random(options.seed)
        kills = 0
        while kills < options.kills and coordinator.poll() is None:
            time.sleep(pick.uniform(0.3, 2.5))
            victim = pick.randrange(len(workers))
            workers[victim].kill()
            workers[victim].wait()
            kills += 1
            workers[victim] = subprocess.Popen([options.nas] + worker_args + ["--run", cut], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)
        coordinator.wait()
        cut_seconds = time.time() - start
        for worker in workers:
            worker.terminate()
            worker.wait()

        reference = json.loads(nas(["status", one, "--runs", runs, "--store", options.store, "--json"], options.nas).stdout)
        status = json.loads(nas(["status", cut, "--runs", runs, "--store", options.store, "--json"], options.nas).stdout)
        indices = [c["index"] for c in status["candidates"]]
        database = options.store.split("/")[-1]
        host_port = options.store.split("@")[1].split("/")[0]
        host, port = host_port.split(":") if ":" in host_port else (host_port, "5432")
        user = options.store.split("://")[1].split("@")[0].split(":")[0]
        schema = subprocess.run(["psql", "-h", host, "-p", port, "-U", user, "-d", database, "-Atc",
                                 f"SELECT schema FROM nasd_runs WHERE name = '{cut}'"], capture_output=True, text=True).stdout.strip()
        commits = subprocess.run(["psql", "-h", host, "-p", port, "-U", user, "-d", database, "-Atc",
                                  f"SELECT (message::jsonb -> 'candidate' ->> 'index') FROM {schema}.event "
                                  "WHERE kind IN ('candidate-done', 'candidate-failed')"],
                                 capture_output=True, text=True).stdout.split()
        queue = status.get("shared", {}).get("queue", {})
        summary = {
            "kills": kills,
            "budget": options.budget,
            "candidates": len(indices),
            "every_index_once": sorted(indices) == list(range(options.budget)),
            "every_candidate_committed_once": sorted(map(int, commits)) == list(range(options.budget)),
            "equals_one_worker_run": candidates(status) == candidates(reference),
            "claims": queue.get("claims"),
            "reissued": queue.get("reissued"),
            "one_worker_seconds": round(one_seconds, 1),
            "three_workers_with_kills_seconds": round(cut_seconds, 1),
        }
        print(json.dumps(summary, indent=2))
        ok = summary["every_index_once"] and summary["every_candidate_committed_once"] and summary["equals_one_worker_run"]
        return 0 if ok and kills == options.kills else 1
    finally:
        shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
