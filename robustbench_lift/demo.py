"""`liftbench demo`: the whole benchmark on the built-in demo data set, on this machine, with nothing to download.

Every shipped demo model (`demo-<pool>`, `robustbench_lift/models/demo.py`: one small CIFAR-style ResNet per
pooling, trained by `liftbench train` on the procedural demo set) is evaluated on the demo test split under every
corruption at every severity (generated on the fly with CIFAR-10-C's severity constants, as the demo images are 32
px: "CIFAR-10-C style", not CIFAR-10-C), under the ImageNet-P style perturbation sequences and for shift
consistency, and for a coarse Fourier heat map (suite freq); the shipped segmentation demo models
(`demo_seg-<pool>`: a small SegNet, each pool with its up-sampler, LiftUpPool for lift) are evaluated on the demo
test images with masks under one corruption per family at severities 1, 3 and 5 (suite `seg`: mIoU, and mCD
relative to `demo_seg-max`). The cells go into `<out>/results.db`, committed per chunk of images, so an interrupted
demo resumes where it stopped; then the report (tables, figures, `report.html`) is written to `<out>` with
`demo-max` as the baseline model, also of the flip rates FR and top-5 distances T5D.

    >>> from robustbench_lift.demo import run_demo
    >>> paths = run_demo("reports/demo")       # about 5 minutes on a 2-core CPU  # doctest: +SKIP
    >>> paths = run_demo("/tmp/ci", limit=100)  # the reduced, fixed subset CI checks: minutes  # doctest: +SKIP
"""

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corruptions.names import SUBSETS
from robustbench_lift.data import DEMO
from robustbench_lift.data.demo import demo_dataset
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.engine.freq_sites import record_sites
from robustbench_lift.engine.input_cache import InputCache
from robustbench_lift.errors import UsageError
from robustbench_lift.models.demo import DEMO_PREFIX, shipped_demo_weights
from robustbench_lift.models.segmentation import DEMO_SEG_MANIFEST
from robustbench_lift.pooling import list_pools
from robustbench_lift.suites.options import (
    CorruptionOptions,
    FreqOptions,
    PerturbationOptions,
    SegmentationOptions,
    ShiftOptions,
    SuiteOptions,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEMO_SUITES: dict[str, tuple[SuiteOptions, int]] = {
    "c": (CorruptionOptions(corruptions=list(SUBSETS["all"]), severities=[1, 2, 3, 4, 5], preset="cifar"), 200),
    "p": (PerturbationOptions(preset="cifar"), 50),
    "shift": (ShiftOptions(), 200),
    "seg": (SegmentationOptions(corruptions=["gaussian_noise", "defocus_blur", "fog", "jpeg_compression"],
                                severities=[1, 3, 5], preset="cifar"), 200),
    "freq": (FreqOptions(freq_step=4), 30),
}
"""Suite -> (options of `evaluate`, limit) for the demo; the limit = images (c, shift, seg) or sequences (p) per
cell, evenly spaced over the 2,000 test images: c and shift 200 images and p 50 sequences since the published
poolings' demo models joined (500, 500 and 100 before), so that `liftbench demo` stays within 10 minutes on 2
cores; the CI gate (`--limit 100`) therefore checks p on 50 sequences too. Seg: one corruption per ImageNet-C
family, to keep the demo short. Freq: the 32 x 32 Fourier heat map on every 4th frequency (34 basis images) over
30 images, a few seconds a model."""
SITE_IMAGES = 10
"""Images of the freq suite's per-site sensitivity (`record_sites`) per demo model."""
BASELINE_MODEL = f"{DEMO_PREFIX}-max"
SEG_PREFIX = "demo_seg"
SEG_BASELINE_MODEL = f"{SEG_PREFIX}-max"
RESULTS_FILE = "results.db"
EXAMPLE_IMAGE = 6
"""Index of the demo test image the report's corruption grid shows (two dots on stripes)."""
QUALITATIVE_IMAGES = (0, 6, 11)
"""Demo test images of the segmentation qualitative grid."""
QUALITATIVE_CELLS = (("clean", 0), ("gaussian_noise", 3), ("defocus_blur", 3), ("fog", 3))
WEIGHTS = ModelOptions(weights="DEFAULT")
"""The demo models run with their shipped weights."""


def demo_models(pools: Sequence[str] | None = None) -> list[str]:
    """Names of the demo models to run: those of `pools` (default: every pooling with shipped weights)."""
    shipped = shipped_demo_weights()
    chosen = list(pools) if pools else [p for p in list_pools() if p in shipped]
    missing = [p for p in chosen if p not in shipped]
    if missing or not chosen:
        raise UsageError(f"no shipped demo weights for pooling {', '.join(missing) or '(any)'}; shipped: "
                         f"{', '.join(shipped) or 'none'}. Train one with `liftbench train --model demo-<pool> "
                         "--data demo` and evaluate it with `liftbench evaluate --data demo`")
    return [f"{DEMO_PREFIX}-{pool}" for pool in chosen]


def demo_seg_models(pools: Sequence[str] | None = None) -> list[str]:
    """Names of the segmentation demo models to run: the shipped ones, of `pools` if given."""
    shipped = shipped_demo_weights(DEMO_SEG_MANIFEST)
    return [f"{SEG_PREFIX}-{pool}" for pool in list_pools() if pool in shipped and (not pools or pool in pools)]


def run_demo(out: str | Path = "reports/demo", *, limit: int | None = None, pools: Sequence[str] | None = None,
             suites: Sequence[str] | None = None, device: str = "auto", batch_size: int = 250,
             amp: bool = False, report: bool = True, progress: bool = True) -> list[Path]:
    """Evaluate the demo models into `<out>/results.db` and write the report; return the files written.

    `limit`: at most this many images (sequences for `p`) per cell instead of the demo defaults (a reduced,
    fixed subset: the same evenly spaced test images every time). `pools`: demo poolings to run (default: all
    shipped). `amp`: bf16 autocast instead of fp32 (recorded as the cells' precision; the committed baseline is
    fp32). `suites`: some of `DEMO_SUITES` (default: all). `report=False` only fills the store (what CI does
    before `liftbench check`).
    """
    suites = list(suites or DEMO_SUITES)
    unknown = [s for s in suites if s not in DEMO_SUITES]
    if unknown:
        raise UsageError(f"unknown demo suite(s) {', '.join(unknown)}: expected some of {', '.join(DEMO_SUITES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / RESULTS_FILE
    models = demo_models(pools)
    cache = InputCache()  # every model sees the same cells: each batch's inputs are made once
    for suite in suites:
        options, default = DEMO_SUITES[suite]
        run = RunOptions(limit=min(default, limit or default), out=store, device=device, batch_size=batch_size,
                         amp=amp, progress=progress, input_cache=cache)
        suite_models, baseline, option = ((demo_seg_models(pools), SEG_BASELINE_MODEL, "seg_baseline")
                                          if suite == "seg" else (models, BASELINE_MODEL, "p_baseline"))
        if suite in ("p", "seg") and baseline in suite_models:  # FR, T5D and mCD relative to -max, computed first
            evaluate(baseline, options, DEMO, run=run, options=WEIGHTS)
            options = dataclasses.replace(options, **{option: f"{store}#{baseline}"})
        for model in suite_models:
            evaluate(model, options, DEMO, run=run, options=WEIGHTS)
        if suite == "freq":
            record_sites(suite_models, options, DEMO, dataclasses.replace(run, limit=min(SITE_IMAGES, run.limit)),
                         WEIGHTS)
    if not report:
        return [store]
    from robustbench_lift.report import build_report

    example = demo_dataset("test")[0][EXAMPLE_IMAGE]
    extra = {"seg_qualitative": seg_predictions(pools)} if "seg" in suites and demo_seg_models(pools) else {}
    return [store, *build_report(store, out, baseline=BASELINE_MODEL, example_image=example, extra_figures=extra)]


def seg_predictions(pools: Sequence[str] | None = None) -> "Figure":
    """The report's qualitative grid: `QUALITATIVE_IMAGES` demo test images, their masks and each shipped
    segmentation demo model's prediction, clean and under `QUALITATIVE_CELLS` (CIFAR-10-C constants)."""
    from robustbench_lift.data.demo import demo_segmentation
    from robustbench_lift.engine.model import prepare_model
    from robustbench_lift.report.qualitative import qualitative_grid

    models = {name: prepare_model(name, WEIGHTS) for name in demo_seg_models(pools)}
    images, masks = demo_segmentation("test", limit=max(QUALITATIVE_IMAGES) + 1)
    keep = list(QUALITATIVE_IMAGES)
    return qualitative_grid(models, images[keep], masks[keep], QUALITATIVE_CELLS, preset="cifar")
