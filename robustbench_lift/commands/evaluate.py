"""`liftbench evaluate`: run models over a suite into the results store, then print the summary table."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from corruptions.names import ALL_SEVERITIES, DIFFICULTIES
from robustbench_lift.commands.config import config_option
from robustbench_lift.commands.fields import COMMA_LIST, FieldCommand, field_options
from robustbench_lift.commands.options import (
    CLASSES,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    model_args_callback,
    parse_levels,
    weights_per_model,
)
from robustbench_lift.suites import SUITES

if TYPE_CHECKING:
    import pandas as pd


def print_summary(frame: "pd.DataFrame", n_boot: int, seed: int, as_json: bool) -> None:
    """The run's summary: JSON records of `report.aggregate.summarize` (fractions), or the report's summary
    table (points, 95% CIs) and per-corruption table."""
    import json

    from robustbench_lift.report.aggregate import summarize
    from robustbench_lift.report.notes import clean_read_note, precision_note
    from robustbench_lift.report.summary import summary_table
    from robustbench_lift.report.tables import corruption_table, render

    if as_json:
        summary = summarize(frame, n_boot=n_boot, seed=seed)
        records = summary.astype(object).where(summary.notna(), None).to_dict(orient="records")
        click.echo(json.dumps(records, indent=1, default=float))  # NaN (no interval) -> null, valid JSON
        return
    table = summary_table(frame, ci=n_boot > 0, n_boot=n_boot, seed=seed)
    click.echo(render(table, "md"))
    notes = {"precision": precision_note(frame), "FR/T5D baseline": table.attrs["p_baseline"],
             "shift mode": table.attrs["shift_mode"]}
    click.echo("  ".join(f"{k}: {v}" for k, v in notes.items() if v not in (None, "none")))
    clean_read = clean_read_note(frame)
    if clean_read:
        click.echo(f"note: {clean_read}")
    if (frame["suite"] == "c").any():
        click.echo("\n" + render(corruption_table(frame), "md"))


def _levels(option: str, allowed: tuple[int, ...]) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """Click callback: `parse_levels` of the option's text."""
    return lambda ctx, param, value: parse_levels(value, option, allowed)


def _size(ctx: click.Context, param: click.Parameter, value: int | None) -> int | str | None:
    """`--resize`/`--crop`: unset -> the model's own (`MODEL`), 0 -> keep (None)."""
    from robustbench_lift.suites.options import MODEL

    return MODEL if value is None else value or None


MODEL_FIELDS = {
    "weights": dict(multiple=True, type=click.Path(), help="Per --model, in the same order: a checkpoint file, DEFAULT "
                    "or a weights name (torchvision: an enum member such as IMAGENET1K_V2)."),
    "model_args": dict(decls=("--model-arg",), multiple=True, metavar="KEY=VALUE", callback=model_args_callback,
                       help="Keyword argument of the model builder (a Python literal or text; repeatable), e.g. "
                       "depth=18."),
    "pool": dict(help="Swap the pooling of the model(s), e.g. lift, blur5 (any ConvNet; zoo names: their variant)."),
    "num_classes": dict(type=CLASSES, help="Classes of the model's head.  [default: the checkpoint's, else 1000]"),
    "test_size": dict(is_flag=True, help="timm models: their config's test_input_size / test_crop_pct (timm's "
                      "validate.py, the protocol of its published accuracy tables); recorded in the cells."),
}
SUITE_FIELDS = {
    "dataset": dict(decls=("--dataset-name",), help="Name of the data set in the store.  [default: the --data folder "
                    "name]"),
    "class_map": dict(type=click.Path(), help="JSON or text file: class folder -> index; or 16-class: "
                      "model-vs-human's 16 categories of a 1000-class ImageNet model (mean softmax over each "
                      "category's classes; stored as <model>@16-class)."),
    "resize": dict(type=NON_NEGATIVE, callback=_size, help="Clean images: shorter side (0: keep).  [default: the "
                   "model's, ImageNet 256]"),
    "crop": dict(type=NON_NEGATIVE, callback=_size, help="Clean images: center crop (0: keep).  [default: the model's "
                 "input size, ImageNet 224]"),
    "clean": dict(help="Clean counterpart of a pre-rendered --data (for clean error and relative mCE); suite ood: the "
                  "ImageNet validation folder (in-distribution accuracy of effective robustness)."),
    "clean_protocol": dict(type=click.Choice(["model", "release"]), help="Suite c on a released tree: read its --clean "
                           "images as the model does, or as ImageNet-C's test.py (Resize 256, CenterCrop 224), the "
                           "clean error of the published relative mCE.  [default: model]"),
    "corruptions": dict(type=COMMA_LIST, help="Comma-separated names or subsets: common, validation, all (ImageNet-C's "
                        "19), noise, blur, weather, digital, 3dcc, cbar, freq.  [default: common]"),
    "severities": dict(type=COMMA_LIST, callback=_levels("--severities", ALL_SEVERITIES),
                       help="e.g. 1,3,5 or 2-4; freq's corruptions have up to 8.  [default: each corruption's]"),
    "backend": dict(type=click.Choice(["auto", "torch", "reference"]), help="On-the-fly corruptions: torch on the "
                    "device, or reference (imagecorruptions) in the workers.  [default: auto]"),
    "preset": dict(type=click.Choice(["imagenet", "cifar"]), help="On-the-fly corruptions and perturbations: the "
                   "constants of ImageNet-C / ImageNet-P or of CIFAR-10-C / CIFAR-10-P (milder, for 32 px images; "
                   "torch backend).  [default: the data set's own: cifar for demo and CIFAR pickles, else "
                   "imagenet]"),
    "severity_scaling": dict(type=click.Choice(["none", "area"]), help="On-the-fly corruptions at other sizes than 224 "
                             "px: pixel constants as published, or scaled to the image's area (docs/protocols.md).  "
                             "[default: none]"),
    "jpeg_quality": dict(type=click.IntRange(1, 95), help="On-the-fly corruptions: save each corrupted image as "
                         "JPEG at this quality and read it back, as the released ImageNet-C (85; docs/protocols.md)."
                         "  [default: not saved]"),
    "ood_set": dict(help="Suite ood: the natural-shift set of --data: imagenet-v2[-matched-frequency, -threshold0.7, "
                    "-top-images], imagenet-r, imagenet-a, imagenet-sketch or mapped.  [default: recognised from its "
                    "class folders]"),
    "ood_class_map": dict(type=click.Path(), help="Suite ood: JSON {folder: [ImageNet-1k indices]} of an "
                          "ObjectNet-style set (--ood-set mapped)."),
    "perturbations": dict(type=COMMA_LIST, help="Suite p: comma-separated names or subsets test, validation, all, "
                          "cifar (cifar-p-eval.py's 10).  [default: test; cifar with the cifar preset]"),
    "difficulties": dict(type=COMMA_LIST, callback=_levels("--difficulties", DIFFICULTIES), help="Suite p: "
                         "difficulties, e.g. 1,2,3 (ImageNet-P/test.py: noise level of the noises, frame gap of the "
                         "others).  [default: 1]"),
    "p_baseline": dict(type=click.Path(), help="Suite p: FR/T5D baseline, a CSV (perturbation,[difficulty,]flip_prob,"
                       "ut5d) or a results store of one model's p cells (store.db or store.db#model)."),
    "shift_mode": dict(type=click.Choice(["crop", "circular"]), help="Suite shift: zero fill past the border, or wrap "
                       "around.  [default: crop]"),
    "pairs": dict(type=POSITIVE, help="Suite shift: crop pairs per image.  [default: 5]"),
    "max_shift": dict(type=POSITIVE, help="Suite shift: offsets 0..N-1, diagonal 0..N.  [default: input // 8]"),
    "eps": dict(type=click.FloatRange(min=0), help="Suite freq: l2 norm of the Fourier basis perturbation per "
                "channel, images in [0, 1].  [default: 4 up to 32 px inputs (Yin et al.'s CIFAR-10), else 15.7 "
                "(their ImageNet)]"),
    "freq_window": dict(type=POSITIVE, help="Suite freq: side of the central square of frequencies.  [default: "
                        "the whole spectrum up to 63 px, else the central 63 x 63]"),
    "freq_step": dict(type=POSITIVE, help="Suite freq: keep frequency offsets that are multiples of N (a coarser "
                      "heat map).  [default: 1]"),
    "sites": dict(decls=("--sites/--no-sites",), default=None, help="Suite freq: also measure, after the cells, "
                  "the mean l2 change of the activations before and after each down-sampling site per basis image "
                  "(table freq_sites; docs/freq.md).  [default: off]"),
    "split": dict(help="Suite seg: VOC / Cityscapes / ADE20K split.  [default: val]"),
    "seg_baseline": dict(type=click.Path(), help="Suite seg: mCD baseline, a results store of one model's seg cells "
                         "(store.db or store.db#model)."),
}
RUN_FIELDS = {
    "batch_size": dict(show_default=True, type=POSITIVE, help="Images per forward pass (sequences and crop pairs are "
                       "batched to about this many frames)."),
    "workers": dict(type=NON_NEGATIVE, help="Loader processes.  [default: 0 on CPU, min(8, cores) on CUDA]"),
    "device": dict(show_default=True, help="auto, cpu or cuda[:i]."),
    "amp": dict(is_flag=True, help="Autocast bf16 (fp16 on a GPU without bf16) instead of fp32; recorded as the "
                "cells' precision."),
    "tf32": dict(is_flag=True, help="CUDA: let fp32 matmuls and convolutions use TF32.  [default: off]"),
    "channels_last": dict(decls=("--channels-last/--no-channels-last",), default=None, help="[default: on]"),
    "compile": dict(is_flag=True, help="torch.compile the model."),
    "limit": dict(type=POSITIVE, help="Evenly spaced images per cell."),
    "seed": dict(show_default=True, type=SEED, help="Per-image corruption seeds; zoo init without weights."),
    "out": dict(default="results.db", show_default=True, type=click.Path(), help="SQLite results store."),
    "overwrite": dict(is_flag=True, help="Recompute cells stored with other settings."),
    "progress": dict(decls=("--progress/--no-progress",), show_default=True),
}
"""The command-line side of every field of `ModelOptions`, the suites' options and `RunOptions` (spelling, Click
type, help); `field_options` makes the options, and refuses a field missing here that is not hidden."""


def _params() -> list[click.Parameter]:
    from robustbench_lift.engine.options import ModelOptions, RunOptions
    from robustbench_lift.suites import options_class

    suites = [options_class(name) for name in SUITES]
    return [
        config_option(),
        click.Option(["--model", "models"], multiple=True, required=True, help="Zoo name, torchvision:<name>, "
                     "timm:<name>, path/to/file.py:factory or package.module:factory (repeat for several)."),
        *field_options([ModelOptions], MODEL_FIELDS, hidden={"name", "mean", "std"}),
        click.Option(["--suite"], type=click.Choice([*SUITES, "all"]), default="c", show_default=True,
                     help="all = c, p and shift."),
        click.Option(["--data"], required=True, help="Corruption tree, CIFAR-C folder, ImageNet-P videos, clean "
                     "folder, CIFAR pickles or 'demo'."),
        *field_options(suites, SUITE_FIELDS, hidden={"interpolation", "crop_mode", "border_fill"}),
        *field_options([RunOptions], RUN_FIELDS, hidden={"chunk", "input_cache"}),
        click.Option(["--export"], type=click.Path(), help="Also write all stored cells to this .csv or .json file."),
        click.Option(["--bootstrap"], default=1000, show_default=True, type=NON_NEGATIVE,
                     help="Bootstrap replicates for the 95% CIs (0: none)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the summary as JSON instead of a table."),
    ]


@click.command(cls=FieldCommand, make_params=_params)
@click.pass_context
def evaluate(ctx: click.Context, models: tuple[str, ...], suite: str, data: str, export: str | None, bootstrap: int,
             as_json: bool, **fields: Any) -> None:
    """Evaluate models on a suite into a resumable results store, then print the summary.

    Suites: c (ImageNet-C / Tiny-ImageNet-C trees and CIFAR-C arrays as released, or any clean data
    corrupted on the fly), p (ImageNet-P videos, or sequences generated from clean data), shift (crop-pair
    consistency and the diagonal-shift curve on clean data), seg (mIoU and mCD of segmentation models on
    clean and corrupted images), all (c, p and shift) and clean. Cells already in --out with the same
    settings are skipped.

    \b
      liftbench evaluate --model resnet50-max --weights DEFAULT --data ImageNet-C --clean val
      liftbench evaluate --model cifar_resnet18-lift --weights ckpt.pt --data CIFAR-100-C
      liftbench evaluate --model resnet18-blur --data val --corruptions noise   # on the fly
      liftbench evaluate --model cifar_resnet18-lift --weights ckpt.pt --data cifar-10-batches-py --preset cifar
      liftbench evaluate --model alexnet-max --weights DEFAULT --suite p --data val --out alexnet.db
      liftbench evaluate --model resnet50-lift --suite p --data val --p-baseline alexnet.db
      liftbench evaluate --model demo-lift --suite all --data demo --limit 200
      liftbench evaluate --model demo_seg-lift --suite seg --data demo --preset cifar --seg-baseline max.db
      liftbench evaluate --model torchvision:resnet50 --weights IMAGENET1K_V2 --pool lift --data val
      liftbench evaluate --model timm:convnext_tiny --weights DEFAULT --data val   # at timm's size and crop
      liftbench evaluate --model nets/mine.py:build --model-arg depth=18 --weights mine.pt --data val
      torchrun --nproc_per_node 4 -m robustbench_lift evaluate ...              # every cell sharded
      liftbench evaluate --config study.yaml --limit 100   # options from a file; the command line wins
    """
    import dataclasses

    import pandas as pd

    from robustbench_lift.engine import evaluate as run_evaluation
    from robustbench_lift.engine.input_cache import InputCache
    from robustbench_lift.engine.options import split_options
    from robustbench_lift.store import KEY_COLUMNS, check_export, export_results, load_results

    weights = weights_per_model(fields.pop("weights"), models)
    if export:
        check_export(export)  # before any work, as the store (opened before the first cell)
    given = {k: v for k, v in fields.items()
             if v is not None or ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
    run, described, suites = split_options(suite, given)  # unset options: the suite's default
    if len(models) > 1:  # the models share each batch's corrupted / perturbed inputs (engine.input_cache)
        run = dataclasses.replace(run, input_cache=InputCache())
    frames = [run_evaluation(model, suites, data, run=run, options=dataclasses.replace(described, weights=weight))
              for model, weight in zip(models, weights)]
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if export:
        export_results(run.out, export)
    evaluated = pd.concat(frames, ignore_index=True)
    print_summary(evaluated, bootstrap, run.seed, as_json)
    if not as_json:
        others = len(load_results(run.out)) - len(evaluated.drop_duplicates(list(KEY_COLUMNS)))
        if others > 0:
            click.echo(f"\nthe store holds {others} more cell(s) (other models, suites, data, corruptions or "
                       f"severities) not shown here: liftbench report {run.out} --out <folder>")
        click.echo(f"\nresults: {Path(run.out).resolve()}")
