"""The verifiers' timing: a runtime's own latency for the file it loaded."""
import statistics
import time


def median_ms(run_once, runs, warmup):
    """Median milliseconds of `runs` calls of `run_once` after `warmup`
    untimed ones; None when `runs` is 0 (no timing asked for)."""
    if runs <= 0:
        return None
    for _ in range(warmup):
        run_once()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run_once()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
