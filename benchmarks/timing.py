"""What the benchmarks share: wall and CPU seconds of a phase, best of interleaved rounds, and the options of the
model benchmarks."""

import argparse
import time
from collections.abc import Callable, Mapping

import torch


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


def model_arguments(parser: argparse.ArgumentParser, batch_size: int, size: int, repeats: int) -> argparse.Namespace:
    """Parse the model benchmarks' common options (batch, input size, repeats, device, channels_last, a model to
    profile) after the script's own, and print the setting."""
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--size", type=int, default=size)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--profile", metavar="NAME", default=None, help="Profile one training step of NAME instead.")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} batch={args.batch_size} "
          f"size={args.size} repeats={args.repeats} channels_last={args.channels_last}")
    return args
