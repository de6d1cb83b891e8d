"""Images per second of every corruption: torch backend vs the imagecorruptions reference, same run, same CPU.

    python benchmarks/bench_corruptions.py [--batch 64] [--size 224] [--reference-images 4] [--repeats 1]
                                           [--severities 1 2 3 4 5] [--corruptions NAME ...] [--device cpu]
                                           [--threads 1]

The torch backend corrupts a batch of `--batch` real photographs at every severity; the reference corrupts
`--reference-images` of them one by one at every severity (its cost is per image, so the rate extrapolates to
the batch). Both are timed best of `--repeats`, taking turns within every repeat. Prints images/s of both, their
ratio, which backend `auto` picks (`REFERENCE_FASTER_ON_CPU`) and whether the measurement agrees with that
table, then geometric means of the torch and `auto` speed-ups.

`--threads 1` (default) compares one core with one core: imagecorruptions runs single-threaded, so its
throughput scales with worker processes as the torch backend's does with threads. With one thread on the CPU
both are timed in CPU seconds of this process (`time.process_time`), i.e. the rate of one dedicated core, less
affected by other load on a shared machine (which still slows both through shared caches and memory: repeat
and take the best). `--threads 0` keeps torch's default and times wall clock.

Goals (issue 4): `auto` never slower than the reference; geometric-mean speed-up of `auto` >= 2x on the CPU;
glass_blur, zoom_blur, elastic_transform and motion_blur >= 5x.

Then, for the random corruptions among `--corruptions`, one seeded call on the whole batch (`corrupt_indexed`, as
the suites corrupt) against one call per image with its own generator (how they corrupted before issue 24), at
severity 3, same clock, and the ratio (issue 24).
"""

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from corruptions.names import DETERMINISTIC, get_corruption_names
from corruptions.reference import warm_up
from corruptions.registry import corrupt, resolve_backend
from corruptions.seeding import corrupt_indexed, seeded_generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from photos import load_photographs  # noqa: E402  (the test photographs)

SLOW_REFERENCE = ("glass_blur", "zoom_blur", "elastic_transform", "motion_blur")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_image(runs: dict[str, tuple[torch.Tensor, str]], name: str, severities: list[int], repeats: int,
                      clock=time.perf_counter) -> dict[str, float]:
    """Best-of-`repeats` time per image on `clock` of each run (`runs`: label -> (images, backend)), averaged over
    `severities`. The runs take turns within every repeat, so a change of load on a shared machine hits them
    alike."""
    for images, backend in runs.values():  # warm-up
        corrupt(images[:1], name, severities[0], generator=torch.Generator(images.device), backend=backend)
    total = dict.fromkeys(runs, 0.0)
    for severity in severities:
        best = dict.fromkeys(runs, math.inf)
        for _ in range(repeats):
            for label, (images, backend) in runs.items():
                generator = torch.Generator(images.device).manual_seed(severity)
                _sync(images.device)
                start = clock()
                corrupt(images, name, severity, generator=generator, backend=backend)
                _sync(images.device)
                best[label] = min(best[label], clock() - start)
        for label, (images, _) in runs.items():
            total[label] += best[label] / images.shape[0]
    return {label: seconds / len(severities) for label, seconds in total.items()}


def batched_vs_per_image(images: torch.Tensor, names: list[str], repeats: int, clock=time.perf_counter) -> None:
    """Print per random corruption the seconds of one batched seeded call and of one call per image, and their
    ratio (same images, seeds and results)."""
    severity, indices = 3, list(range(images.shape[0]))

    def per_image(name: str) -> None:
        for i in indices:
            corrupt(images[i:i + 1], name, severity, generator=seeded_generator(0, name, severity, i))

    print(f"{'random corruption':20s} {'batched s':>9s} {'per-image s':>11s} {'ratio':>7s}")
    ratios = []
    for name in [n for n in names if n not in DETERMINISTIC]:
        timings = []
        for work in (lambda: corrupt_indexed(images, indices, name, severity, 0, "torch"), lambda: per_image(name)):
            best = math.inf
            for _ in range(repeats):
                _sync(images.device)
                start = clock()
                work()
                _sync(images.device)
                best = min(best, clock() - start)
            timings.append(best)
        ratios.append(timings[1] / timings[0])
        print(f"{name:20s} {timings[0]:9.3f} {timings[1]:11.3f} {ratios[-1]:6.2f}x", flush=True)
    if ratios:
        print(f"geometric-mean speed-up of the batched call over one call per image: {geometric_mean(ratios):.2f}x")


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--reference-images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--corruptions", nargs="+", default=get_corruption_names("all"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu_time = device.type == "cpu" and torch.get_num_threads() == 1
    clock = time.process_time if cpu_time else time.perf_counter
    photos = load_photographs(args.size)
    images = photos.repeat(math.ceil(args.batch / len(photos)), 1, 1, 1)[:args.batch].to(device)
    for severity in args.severities:
        warm_up(severity)
    print(f"{args.batch} x 3 x {args.size} x {args.size}, severities {args.severities}, device {device}, "
          f"torch threads {torch.get_num_threads()}; reference on {args.reference_images} images; "
          f"{'CPU' if cpu_time else 'wall-clock'} time")
    print(f"{'corruption':20s} {'torch img/s':>11s} {'ref img/s':>10s} {'ratio':>7s} {'auto':>9s}  table")
    torch_ratios, auto_ratios = [], []
    for name in args.corruptions:
        seconds = seconds_per_image({"torch": (images, "torch"),
                                     "reference": (images[:args.reference_images].cpu(), "reference")},
                                    name, args.severities, args.repeats, clock)
        fast, ref = 1 / seconds["torch"], 1 / seconds["reference"]
        auto = resolve_backend("auto", name, device)
        auto_rate = fast if auto == "torch" else ref
        agrees = (auto == "torch") == (fast >= ref)
        torch_ratios.append(fast / ref)
        auto_ratios.append(auto_rate / ref)
        goal = " (goal >= 5x)" if name in SLOW_REFERENCE else ""
        print(f"{name:20s} {fast:11.1f} {ref:10.1f} {fast / ref:6.2f}x {auto:>9s}  "
              f"{'ok' if agrees else 'DISAGREES'}{goal}", flush=True)
    print(f"geometric-mean speed-up over the reference: torch {geometric_mean(torch_ratios):.2f}x, "
          f"auto {geometric_mean(auto_ratios):.2f}x (goal >= 2x)")
    batched_vs_per_image(images, args.corruptions, args.repeats, clock)


if __name__ == "__main__":
    main()
