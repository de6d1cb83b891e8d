"""Typed options of a run (how to evaluate) and of the model under evaluation (what it is)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_lift.engine.input_cache import InputCache
from robustbench_lift.errors import UsageError
from robustbench_lift.suites import options_class, suite_names
from robustbench_lift.suites.options import SuiteOptions, field_names, options_for


@dataclass(frozen=True)
class RunOptions:
    """How a run executes.

    `batch_size`: images per forward pass (sequences and crop pairs are batched to about this many frames);
    `workers`: loader processes (default 0 on the CPU, min(8, cores) on CUDA); `device`: auto, cpu or cuda[:i];
    precision: fp32 with TF32 off by default on every device, as the published protocols measured
    (`engine.device.choose_precision`); `amp` opts in to autocast bf16 (fp16 on a GPU without bf16), `tf32` to
    TF32 matmuls and convolutions (CUDA); `channels_last` (default on); `compile`: `torch.compile` the model;
    `limit`: evenly spaced images (sequences) per cell; `seed`: every per-image random number (corruptions,
    perturbations, crops) and a zoo model's initialisation without weights;
    `out`: the SQLite store (None: in memory); `overwrite`: recompute cells stored with other settings;
    `progress`: progress bars; `chunk`: about this many images (each frame of a sequence and each crop counts
    one) per chunk of an on-the-fly pass, whose predictions are committed together so a killed run loses at
    most one chunk (`engine.chunks`; rounded to whole loader batches); `input_cache`: keep each batch's inputs for
    the next model of the study (`engine.input_cache`; Python API only, e.g. `liftbench demo`).
    """

    batch_size: int = 64
    workers: int | None = None
    device: str = "auto"
    amp: bool = False
    tf32: bool = False
    channels_last: bool | None = None
    compile: bool = False
    limit: int | None = None
    seed: int = 0
    out: str | Path | None = None
    overwrite: bool = False
    progress: bool = True
    chunk: int = 256
    input_cache: InputCache | None = None

    def __post_init__(self) -> None:
        checks = (("batch_size", self.batch_size, 1), ("workers", self.workers, 0), ("limit", self.limit, 1),
                  ("seed", self.seed, 0), ("chunk", self.chunk, 1))
        for name, value, low in checks:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise UsageError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("amp", "tf32"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.input_cache is not None and not isinstance(self.input_cache, InputCache):
            raise UsageError(f"input_cache must be an engine.input_cache.InputCache or None, got {self.input_cache!r}")


@dataclass(frozen=True)
class ModelOptions:
    """What describes a model: `weights` (a file, a weights tag such as DEFAULT, or a URL) for a model name
    (`models.sources.resolve_model`: zoo, `torchvision:`, `timm:`, `file.py:factory`), its builder's keyword
    `model_args` and a `pool` to swap in (`"lift"`); the store `name` (default: the canonical name, or a module's
    class name), `num_classes` (default: the checkpoint's, the builder's, or a module's last Linear's outputs)
    and normalisation `mean`/`std` (default: the model's own config, else ImageNet's); `test_size`: a timm model
    at its config's `test_input_size` / `test_crop_pct` (timm's `validate.py`, the protocol of its published
    accuracy tables) instead of its eval size (the cells record the size read)."""

    weights: str | Path | None = None
    model_args: Mapping[str, Any] | None = None
    pool: str | None = None
    name: str | None = None
    num_classes: int | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    test_size: bool = False


def split_options(suite: str, values: Mapping[str, Any]) -> tuple[RunOptions, ModelOptions, list[SuiteOptions]]:
    """Typed options from values named as their fields (the command line's, a config file's): each goes to
    `RunOptions`, `ModelOptions` or the options of the suites `suite` stands for (`suites.suite_names`, in that
    order); a value none of them takes is a `UsageError` (e.g. corruptions for `clean`), unless None (unset)."""
    run = {k: v for k, v in values.items() if k in field_names(RunOptions)}
    model = {k: v for k, v in values.items() if k in field_names(ModelOptions)}
    rest = {k: v for k, v in values.items() if k not in run and k not in model}
    names = suite_names(suite)
    classes = [options_class(n) for n in names]
    unused = sorted(k for k, v in rest.items() if v is not None and not any(k in field_names(c) for c in classes))
    if unused:
        raise UsageError(f"suite {suite!r} does not take {', '.join(unused)}")
    suites = [options_for(c, n, **{k: v for k, v in rest.items() if k in field_names(c)})
              for n, c in zip(names, classes)]
    return RunOptions(**run), ModelOptions(**model), suites
