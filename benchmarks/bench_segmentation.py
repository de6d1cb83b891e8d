"""SegNet-lift against SegNet-max: inference and training-step time on the same input, as ratios measured in the
same run.

    python benchmarks/bench_segmentation.py [--models segnet_vgg16_bn-max,segnet_vgg16_bn-lift]
                                            [--batch-size 2] [--size 128] [--repeats 5] [--device cpu|cuda]
                                            [--no-channels-last] [--profile segnet_vgg16_bn-lift]

The protocol of `bench_models.py`, whose `Runner` it uses: inference is `model.eval()` under
`torch.inference_mode()`; a training step is a train-mode forward, pixel-wise cross-entropy against random
labels (plus `lifting_loss` for LiftPool models), backward and an SGD step. After one warm-up of each, the phases
run round-robin (`timing.best_of`): every repeat runs each model's inference and training step in turn, and the
fastest wall and CPU seconds count. On a shared machine the CPU-time ratio is the steadier one. Ratios are times
relative to the first model: above 1 is slower. `--profile NAME` prints torch.profiler's top operators of one
training step of NAME instead.

Goal (issue 19): `segnet_vgg16_bn-lift` within 1.5x of `segnet_vgg16_bn-max`, for inference and training step.
"""

import argparse

import torch
from bench_models import Runner, profile_step
from timing import best_of, model_arguments  # benchmarks/timing.py, next to this script

from robustbench_lift.models import model_spec

GOAL = 1.5
PHASES = ("infer", "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="segnet_vgg16_bn-max,segnet_vgg16_bn-lift")
    args = model_arguments(parser, batch_size=2, size=128, repeats=5)
    device = args.device
    if args.profile:
        profile_step(args.profile, args.batch_size, args.size, device, args.channels_last)
        return
    names = args.models.split(",")
    classes = min(model_spec(name).num_classes for name in names)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(args.batch_size, 3, args.size, args.size, generator=generator).to(device)
    if args.channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, classes, (args.batch_size, args.size, args.size), generator=generator).to(device)
    runners = [Runner(name, batch, labels, args.channels_last) for name in names]
    for runner in runners:  # warm-up: allocator, oneDNN / cuDNN algorithm choice
        runner.infer()
        runner.train_step()
    best = best_of({(r.name, phase): (r.infer if phase == "infer" else r.train_step)
                    for r in runners for phase in PHASES}, args.repeats)
    width = max(len(name) for name in names)
    print(f"\n{'model':<{width}} {'phase':>5} {'wall s':>8} {'x first':>8} {'CPU s':>8} {'x first':>8}")
    for name in names:
        for phase in PHASES:
            (wall, cpu), (wall0, cpu0) = best[name, phase], best[names[0], phase]
            print(f"{name:<{width}} {phase:>5} {wall:>8.3f} {wall / wall0:>8.2f} {cpu:>8.3f} {cpu / cpu0:>8.2f}")
    for name in names[1:]:
        ratios = ", ".join(f"{phase} {best[name, phase][0] / best[names[0], phase][0]:.2f}x wall / "
                           f"{best[name, phase][1] / best[names[0], phase][1]:.2f}x CPU" for phase in PHASES)
        print(f"{name} / {names[0]}: {ratios} (goal <= {GOAL})")


if __name__ == "__main__":
    main()
