"""SegNet-lift against SegNet-max: inference and training-step time on the same input, as ratios measured in the
same run.

    python benchmarks/bench_segmentation.py [--models segnet_vgg16_bn-max,segnet_vgg16_bn-lift]
                                            [--batch-size 4] [--size 256] [--repeats 3] [--device cpu|cuda]
                                            [--no-channels-last]

The protocol of `bench_models.py`, whose `run` it uses: inference is `model.eval()` under
`torch.inference_mode()`; a training step is a train-mode forward, pixel-wise cross-entropy against random
labels (plus `lifting_loss` for LiftPool models), backward and an SGD step. Models run round-robin, one repeat of
each in turn, and the fastest repeat counts. Ratios are times relative to the first model: above 1 is slower.

Goal (issue 19): `segnet_vgg16_bn-lift` within 1.5x of `segnet_vgg16_bn-max`, for inference and training step.
"""

import argparse

import torch
from bench_models import run

from robustbench_lift.models import model_spec

GOAL = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="segnet_vgg16_bn-max,segnet_vgg16_bn-lift")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__} batch={args.batch_size} "
          f"size={args.size} repeats={args.repeats} channels_last={args.channels_last}")
    names = args.models.split(",")
    classes = min(model_spec(name).num_classes for name in names)
    result = run(names, args.batch_size, args.size, args.repeats, device, args.channels_last, classes, dense=True)
    base = result[names[0]]
    width = max(len(name) for name in names)
    print(f"\n{'model':<{width}} {'infer s/batch':>13} {'x first':>8} {'train s/step':>12} {'x first':>8}")
    for name in names:
        row = result[name]
        print(f"{name:<{width}} {row['infer_s']:>13.3f} {row['infer_s'] / base['infer_s']:>8.2f} "
              f"{row['train_s']:>12.3f} {row['train_s'] / base['train_s']:>8.2f}")
    for name in names[1:]:
        infer, train = (result[name][k] / base[k] for k in ("infer_s", "train_s"))
        print(f"{name} / {names[0]}: inference {infer:.2f}x, training step {train:.2f}x (goal <= {GOAL})")


if __name__ == "__main__":
    main()
