"""Throughput of the Fourier heat map (suite `freq`) against the model's forward pass alone.

    python benchmarks/bench_freq.py [--model demo-lift] [--images 100] [--freq-step 4] [--batch-size 250]

On the demo data (32 px) with a shipped demo model, in one run:
  (a) the model forward alone over the same decoded, normalised images, each repeated once per cell of the heat
      map, in batches of `--batch-size` (channels_last, inference_mode, top-5): the runner also fills each
      forward pass with the inputs of several cells;
  (f) `evaluate` of suite freq over those images (decode once, basis on the device, every frequency's inputs
      one add-and-clip of the batch, predictions into an in-memory store).
Goal (issue 26): (f)/(a) >= 0.8 on the CPU. Images/s count every (cell, image) forward. Each figure is printed as
wall-clock and as CPU time of this process, best of `--repeats` interleaved rounds (`timing.best_of`). A small
model is the hard case: the per-cell work around its forward pass weighs most.
"""

import argparse

import torch
from timing import best_of  # benchmarks/timing.py, next to this script

from robustbench_lift.data import evenly_spaced, open_clean
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.engine.model import prepare_model
from robustbench_lift.suites import make_suite
from robustbench_lift.suites.options import FreqOptions


def forward_alone(model: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    """(a) the model over already normalised batches."""
    with torch.inference_mode():
        for batch in batches:
            model(batch).topk(5, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="demo-lift")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--freq-step", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2, help="Rounds; each figure is the best round.")
    args = parser.parse_args()
    weights = ModelOptions(weights="DEFAULT")
    prepared = prepare_model(args.model, weights)
    model = prepared.module.eval().to(memory_format=torch.channels_last)
    options = FreqOptions(freq_step=args.freq_step)
    cells = len(make_suite("freq", "demo", options).groups()[0].cells)
    source = open_clean("demo")
    images = torch.stack([source[int(i)][1] for i in evenly_spaced(len(source), args.images)])
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (prepared.mean, prepared.std))
    inputs = ((images.float() / 255 - mean) / std).repeat(cells, 1, 1, 1)
    batches = [inputs[i:i + args.batch_size].contiguous(memory_format=torch.channels_last)
               for i in range(0, len(inputs), args.batch_size)]
    run = RunOptions(limit=args.images, batch_size=args.batch_size, progress=False)
    print(f"{args.model}, {len(images)} images x {cells} cells (freq_step {args.freq_step}), batch "
          f"{args.batch_size}, {torch.get_num_threads()} threads")
    forward_alone(model, batches[:1])  # warm-up
    best = best_of({"a": lambda: forward_alone(model, batches),
                    "f": lambda: evaluate(args.model, options, "demo", run=run, options=weights)}, args.repeats)
    work = len(images) * cells
    for key, label in (("a", "(a) forward alone"), ("f", "(f) heat map, evaluate")):
        wall, cpu = best[key]
        print(f"{label:24s} {work / wall:8.0f} img/s wall  {work / cpu:8.0f} img/s CPU")
    print(f"(f)/(a) = {best['a'][0] / best['f'][0]:.2f} wall, {best['a'][1] / best['f'][1]:.2f} CPU  (goal >= 0.8)")


if __name__ == "__main__":
    main()
