"""Inference throughput and training-step time of zoo models, as ratios to `-max` measured in the same run.

    python benchmarks/bench_models.py [--backbones resnet18,resnet50] [--pools max,blur,lift]
                                      [--batch-size 32] [--size 224] [--repeats 3] [--device cpu|cuda]
                                      [--no-channels-last] [--profile resnet50-lift]

Inference: `model.eval()` under `torch.inference_mode()`. Training step: forward in train mode, cross-entropy
(plus `lifting_loss` for LiftPool models), backward, SGD step. Models are measured round-robin, one repeat of
each in turn, and the fastest repeat is reported: on a shared machine the minimum is the time least inflated
by other processes (as `timeit` advises). Ratio columns are times relative to the first pooling (`-max`): above 1
is slower.

Goal (issue 3): `resnet50-lift` training step within 1.3x of `resnet50-blur`, inference within 1.2x.
`--profile NAME` prints torch.profiler's top operators of one training step of NAME.
"""

import argparse
import time

import torch
import torch.nn.functional as F
from timing import model_arguments  # benchmarks/timing.py, next to this script
from torch.profiler import ProfilerActivity, profile

from robustbench_lift.models import create_model
from robustbench_lift.pooling import lifting_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Runner:
    """One model with its optimiser and a fixed batch; `infer()` and `train_step()` time one call each (seconds)."""

    def __init__(self, name: str, batch: torch.Tensor, labels: torch.Tensor, channels_last: bool) -> None:
        self.name, self.batch, self.labels = name, batch, labels
        self.model = create_model(name).to(batch.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)

    def _timed(self, fn) -> float:
        _sync(self.batch.device)
        start = time.perf_counter()
        fn()
        _sync(self.batch.device)
        return time.perf_counter() - start

    def _infer(self) -> None:
        with torch.inference_mode():
            self.model.eval()(self.batch)

    def _train(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.batch), self.labels) + lifting_loss(self.model)
        loss.backward()
        self.optimizer.step()

    def infer(self) -> float:
        return self._timed(self._infer)

    def train_step(self) -> float:
        return self._timed(self._train)


def run(names: list[str], batch_size: int, size: int, repeats: int, device: torch.device, channels_last: bool,
        classes: int = 1000, dense: bool = False) -> dict[str, dict[str, float]]:
    """`{name: {"infer_s": fastest seconds per batch, "train_s": fastest seconds per step}}` on a seeded random
    batch with random labels in `[0, classes)`: one per image, or with `dense` one per pixel (segmentation)."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(batch_size, 3, size, size, generator=generator).to(device)
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    shape = (batch_size, size, size) if dense else (batch_size,)
    labels = torch.randint(0, classes, shape, generator=generator).to(device)
    return measure([Runner(name, batch, labels, channels_last) for name in names], repeats)


def measure(runners: list[Runner], repeats: int) -> dict[str, dict[str, float]]:
    """Warm up, then time `repeats` round-robin rounds of each runner; the fastest of each kind per model."""
    for runner in runners:  # warm-up: allocator, oneDNN / cuDNN algorithm choice
        runner.infer()
        runner.train_step()
    times: dict[str, dict[str, list[float]]] = {r.name: {"infer_s": [], "train_s": []} for r in runners}
    for _ in range(repeats):
        for runner in runners:
            times[runner.name]["infer_s"].append(runner.infer())
            times[runner.name]["train_s"].append(runner.train_step())
    return {name: {kind: min(values) for kind, values in kinds.items()} for name, kinds in times.items()}


def profile_step(name: str, batch_size: int, size: int, device: torch.device, channels_last: bool) -> None:
    """Print the operators that dominate one training step of `name` (after a warm-up step)."""
    batch = torch.randn(batch_size, 3, size, size, device=device)
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    runner = Runner(name, batch, torch.zeros(batch_size, dtype=torch.long, device=device), channels_last)
    runner.train_step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        runner.train_step()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="resnet18,resnet50")
    parser.add_argument("--pools", default="max,blur,lift")
    args = model_arguments(parser, batch_size=32, size=224, repeats=3)
    device = args.device
    if args.profile:
        profile_step(args.profile, args.batch_size, args.size, device, args.channels_last)
        return
    pools = args.pools.split(",")
    for backbone in args.backbones.split(","):
        names = [f"{backbone}-{pool}" for pool in pools]
        result = run(names, args.batch_size, args.size, args.repeats, device, args.channels_last)
        base = result[names[0]]
        print(f"\n{'model':<16} {'infer img/s':>11} {'x ' + names[0]:>18} {'train s/step':>12} {'x ' + names[0]:>18}")
        for name in names:
            row = result[name]
            print(f"{name:<16} {args.batch_size / row['infer_s']:>11.1f} {row['infer_s'] / base['infer_s']:>18.2f} "
                  f"{row['train_s']:>12.2f} {row['train_s'] / base['train_s']:>18.2f}")
        if {"blur", "lift"} <= set(pools):
            blur, lift = result[f"{backbone}-blur"], result[f"{backbone}-lift"]
            print(f"lift / blur: inference {lift['infer_s'] / blur['infer_s']:.2f}x (goal <= 1.2), "
                  f"training step {lift['train_s'] / blur['train_s']:.2f}x (goal <= 1.3)")


if __name__ == "__main__":
    main()
