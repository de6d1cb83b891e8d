"""Timing shared by the benchmarks: wall and CPU seconds of a phase, best of interleaved rounds."""

import time
from collections.abc import Callable, Mapping


def measure(work: Callable[[], object]) -> tuple[float, float]:
    """`(wall seconds, CPU seconds of this process)` of `work()`. CPU time (all threads) is what a phase costs
    whatever else runs on a shared machine; wall time is what a user waits on an idle one."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_of(phases: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per phase the best `(wall, CPU)` seconds over `repeats` rounds, phases interleaved within each round so
    that a busy machine slows every phase alike."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for key, work in phases.items():
            wall, cpu = measure(work)
            previous = best.get(key, (wall, cpu))
            best[key] = (min(wall, previous[0]), min(cpu, previous[1]))
    return best
