"""`liftbench evaluate`: run models over a suite into the results store, then print the summary table."""

import json
import os
from pathlib import Path
from typing import Any

import click
import pandas as pd

from corruptions.perturbations import SUBSETS as P_SUBSETS
from corruptions.registry import SUBSETS
from robustbench_lift.commands.options import CLASSES, NON_NEGATIVE, POSITIVE, SEED
from robustbench_lift.errors import UsageError
from robustbench_lift.evaluate import evaluate as run_evaluation
from robustbench_lift.metrics import SEVERITIES
from robustbench_lift.store import export_results
from robustbench_lift.suite_registry import SUITES
from robustbench_lift.suites_p import DIFFICULTIES
from robustbench_lift.summary import summarize

HEADLINE = {"clean_err": "clean err", "mCE": "mCE", "rel_mCE": "rel mCE", "mean_err": "mean err", "mFP": "mFP",
            "mFR": "mFR", "mT5D": "mT5D", "consistency": "consistency", "shift_acc": "shift acc"}
NOTES = {"p_baseline": "FR/T5D baseline", "shift_mode": "shift mode"}


def parse_corruptions(text: str | None) -> list[str] | None:
    """Comma-separated corruption names or subsets of `corruptions.get_corruption_names` (common, validation,
    all, noise, blur, weather, digital)."""
    if not text:
        return None
    names: list[str] = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        names += [n for n in (SUBSETS[token] if token in SUBSETS else (token,)) if n not in names]
    return names


def parse_perturbations(text: str | None) -> list[str] | None:
    """Comma-separated perturbation names or subsets of `corruptions.perturbations` (test, validation, all)."""
    if not text:
        return None
    names: list[str] = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        names += [n for n in (P_SUBSETS[token] if token in P_SUBSETS else (token,)) if n not in names]
    return names


def parse_severities(text: str | None, option: str = "--severities", allowed: tuple[int, ...] = SEVERITIES
                     ) -> list[int] | None:
    """`"1,3,5"` or `"2-4"` -> sorted numbers among `allowed` (severities 1..5, or difficulties 1..3)."""
    if not text:
        return None
    numbers: set[int] = set()
    expected = f"expected numbers {allowed[0]}..{allowed[-1]} like 1,3 or 2-{allowed[-1]}"
    try:
        for token in (t.strip() for t in text.split(",") if t.strip()):
            low, _, high = token.partition("-")
            low, high = int(low), int(high or low)
            if not allowed[0] <= low <= high <= allowed[-1]:  # before expanding: "1-99999999999" is not a range
                raise ValueError(token)
            numbers.update(range(low, high + 1))
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {expected}") from exc
    if not numbers or not numbers <= set(allowed):
        raise UsageError(f"{option} {text!r}: {expected}")
    return sorted(numbers)


def _percent(value: float, low: float, high: float) -> str:
    if pd.isna(value):
        return "-"
    return f"{100 * value:.1f}" + ("" if pd.isna(low) else f" [{100 * low:.1f}, {100 * high:.1f}]")


def format_summary(summary: pd.DataFrame) -> str:
    """The headline table (clean error, mCE, relative mCE, mean error with 95% CIs, in percent) and a table of
    CE per corruption (mean error per corruption for models without the AlexNet normaliser)."""
    head = pd.DataFrame({"model": summary["model"], "dataset": summary["dataset"], "suite": summary["suite"]})
    for metric, title in HEADLINE.items():
        if metric in summary:
            head[title] = [_percent(*values) for values in
                           zip(summary[metric], summary[f"{metric}_lo"], summary[f"{metric}_hi"])]
    per_corruption = {}
    for _, row in summary.iterrows():
        prefix = "CE/" if row.get("normalised") else "err/"
        values = {c[len(prefix):]: row[c] for c in summary.columns
                  if c.startswith(prefix) and not c.endswith(("_lo", "_hi")) and pd.notna(row[c])}
        if values:
            per_corruption[f"{row['model']} {'CE' if prefix == 'CE/' else 'err'}"] = values
    for column, title in NOTES.items():
        if column in summary:
            head[title] = summary[column].fillna("")
    text = head.to_string(index=False)
    if per_corruption:
        table = (100 * pd.DataFrame(per_corruption)).round(1)
        text += "\n\n" + table.to_string()
    return text


@click.command()
@click.option("--model", "models", multiple=True, required=True, help="Zoo model name (repeat for several).")
@click.option("--weights", multiple=True, type=click.Path(), help="Checkpoint per --model, in the same order.")
@click.option("--suite", type=click.Choice([*sorted(SUITES), "all"]), default="c", show_default=True,
              help="all = c, p and shift.")
@click.option("--data", required=True, help="Corruption tree, CIFAR-C folder, ImageNet-P videos, clean folder, "
              "CIFAR pickles or 'demo'.")
@click.option("--clean", help="Clean counterpart of a pre-rendered --data (for clean error and relative mCE).")
@click.option("--corruptions", help="Comma-separated names or subsets: common, validation, all, noise, blur, "
              "weather, digital.  [default: common]")
@click.option("--severities", help="e.g. 1,3,5 or 2-4.  [default: 1-5]")
@click.option("--perturbations", help="Suite p: comma-separated names or subsets test, validation, all.  "
              "[default: test]")
@click.option("--difficulties", help="Suite p: noise difficulties, e.g. 1,2,3.  [default: 1]")
@click.option("--p-baseline", type=click.Path(), help="Suite p: FR/T5D baseline, a CSV (perturbation,[difficulty,]"
              "flip_prob,ut5d) or a results store of one model's p cells (store.db or store.db#model).")
@click.option("--shift-mode", type=click.Choice(["crop", "circular"]), help="Suite shift: zero fill past the "
              "border, or wrap around.  [default: crop]")
@click.option("--pairs", type=POSITIVE, help="Suite shift: crop pairs per image.  [default: 5]")
@click.option("--max-shift", type=POSITIVE,
              help="Suite shift: offsets 0..N-1, diagonal 0..N.  [default: input // 8]")
@click.option("--batch-size", default=64, show_default=True, type=POSITIVE,
              help="Images per forward pass (sequences and crop "
              "pairs are batched to about this many frames).")
@click.option("--workers", type=NON_NEGATIVE, help="Loader processes.  [default: 0 on CPU, min(8, cores) on CUDA]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:i].")
@click.option("--amp/--no-amp", default=None, help="Autocast bf16 (fp16 without bf16).  [default: on CUDA only]")
@click.option("--channels-last/--no-channels-last", default=None, help="[default: on]")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model.")
@click.option("--limit", type=POSITIVE, help="Evenly spaced images per cell.")
@click.option("--seed", default=0, show_default=True, type=SEED,
              help="Per-image corruption seeds; zoo init without weights.")
@click.option("--backend", type=click.Choice(["auto", "torch", "reference"]), default="auto", show_default=True,
              help="On-the-fly corruptions: torch on the device, or reference (imagecorruptions) in the workers.")
@click.option("--preset", type=click.Choice(["imagenet", "cifar"]), help="On-the-fly corruptions: severity "
              "constants of ImageNet-C or of CIFAR-10-C (milder, for 32 px images; torch backend).  "
              "[default: imagenet]")
@click.option("--class-map", type=click.Path(), help="JSON or text file: class folder -> index.")
@click.option("--num-classes", type=CLASSES,
              help="Classes of the model's head.  [default: the checkpoint's, else 1000]")
@click.option("--dataset-name", help="Name of the data set in the store.  [default: the --data folder name]")
@click.option("--resize", type=NON_NEGATIVE, default=256, show_default=True,
              help="Clean images: shorter side (0: keep).")
@click.option("--crop", type=NON_NEGATIVE, default=224, show_default=True, help="Clean images: center crop (0: keep).")
@click.option("--out", default="results.db", show_default=True, type=click.Path(), help="SQLite results store.")
@click.option("--overwrite", is_flag=True, help="Recompute cells stored with other settings.")
@click.option("--export", type=click.Path(), help="Also write all stored cells to this .csv or .json file.")
@click.option("--bootstrap", default=1000, show_default=True, type=NON_NEGATIVE,
              help="Bootstrap replicates for the 95% CIs (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def evaluate(models: tuple[str, ...], weights: tuple[str, ...], corruptions: str | None, severities: str | None,
             perturbations: str | None, difficulties: str | None, compile_model: bool, dataset_name: str | None,
             resize: int, crop: int, export: str | None,
             bootstrap: int, as_json: bool, **options: Any) -> None:
    """Evaluate models on a suite into a resumable results store, then print the summary.

    Suites: c (ImageNet-C / Tiny-ImageNet-C trees and CIFAR-C arrays as released, or any clean data
    corrupted on the fly), p (ImageNet-P videos, or sequences generated from clean data), shift (crop-pair
    consistency and the diagonal-shift curve on clean data), all (c, p and shift) and clean. Cells already in
    --out with the same settings are skipped.

    \b
      liftbench evaluate --model resnet50-max --weights DEFAULT --data ImageNet-C --clean val
      liftbench evaluate --model cifar_resnet18-lift --weights ckpt.pt --data CIFAR-100-C
      liftbench evaluate --model resnet18-blur --data val --corruptions noise   # on the fly
      liftbench evaluate --model cifar_resnet18-lift --weights ckpt.pt --data cifar-10-batches-py --preset cifar
      liftbench evaluate --model alexnet-max --weights DEFAULT --suite p --data val --out alexnet.db
      liftbench evaluate --model resnet50-lift --suite p --data val --p-baseline alexnet.db
      liftbench evaluate --model demo-lift --suite all --data demo --limit 200
      torchrun --nproc_per_node 4 -m robustbench_lift evaluate ...              # every cell sharded
    """
    if weights and len(weights) != len(models):
        raise UsageError(f"{len(weights)} --weights for {len(models)} --model: give one checkpoint per model")
    frames = [run_evaluation(model, weights=weights[index] if weights else None,
                             corruptions=parse_corruptions(corruptions), severities=parse_severities(severities),
                             perturbations=parse_perturbations(perturbations),
                             difficulties=parse_severities(difficulties, "--difficulties", DIFFICULTIES),
                             compile=compile_model, dataset=dataset_name, resize=resize or None, crop=crop or None,
                             **options)
              for index, model in enumerate(models)]
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if export:
        export_results(options["out"], export)
    summary = summarize(pd.concat(frames, ignore_index=True), n_boot=bootstrap, seed=options["seed"])
    if as_json:
        records = summary.astype(object).where(summary.notna(), None).to_dict(orient="records")
        click.echo(json.dumps(records, indent=1, default=float))  # NaN (no interval) -> null, valid JSON
    else:
        click.echo(format_summary(summary))
        click.echo(f"\nresults: {Path(options['out']).resolve()}")
