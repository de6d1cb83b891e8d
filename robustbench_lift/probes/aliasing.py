"""Aliasing per down-sampling site of a model (Ribeiro & Schoen, ICASSP 2021; metrics in `metrics.aliasing`).

`downsampling_sites(model)` finds the layers that halve the resolution: every pooling built by `create_pool`
(tagged with its registry name), torchvision's own stride-2 max / average pools and stride-2 convolutions (the
sites of a model left at max pooling). `measure_aliasing(model, images)` runs the model on clean images and, at
every site whose pooling is "polyphase" (pooling registry, `undecimated`), rebuilds the stride-1 map `y` the
layer decimates: `y[..., a::2, b::2]` is the layer applied to its input rolled by `(-a, -b)`, so
`y[..., ::2, ::2]` is the layer's own output and the other phases are what the same shift-equivariant map gives
between its samples (the input's wrap-around touches the last rows and columns only). Adaptive samplers (aps,
lps: the phase depends on the input) and layers with no such form (asap) are reported with their form and no
numbers: forcing them into the measure would describe a layer they are not.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from robustbench_lift.metrics.aliasing import CLASSES, PASSING_DB, aliased_share, bin_classes
from robustbench_lift.pooling.registry import undecimated_form

if TYPE_CHECKING:
    from robustbench_lift.engine.options import ModelOptions, RunOptions

COLUMNS = ("site", "pool", "form", "n", "aliased_share", *CLASSES)
"""One row per site: the mean over images of `aliased_share` and of each class fraction (NaN unless polyphase)."""


@dataclass(frozen=True)
class DownsamplingSite:
    """A layer that halves the resolution: its dotted `path`, its `pool` name ("conv" for a stride-2
    convolution) and its `form` ("polyphase", "adaptive" or None, see the module doc)."""

    path: str
    pool: str
    form: str | None


def _strided(module: nn.Module) -> bool:
    stride = module.stride
    return max(stride if isinstance(stride, tuple) else (stride,)) > 1


def _site(path: str, module: nn.Module) -> DownsamplingSite | None:
    tagged = getattr(module, "liftbench_pool", None)
    if tagged is not None:
        return DownsamplingSite(path, tagged, undecimated_form(tagged))
    for kind, name in ((nn.MaxPool2d, "max"), (nn.AvgPool2d, "avg"), (nn.Conv2d, "conv")):
        if type(module) is kind and _strided(module):
            return DownsamplingSite(path, name, "polyphase")
    return None


def downsampling_sites(model: nn.Module) -> list[DownsamplingSite]:
    """The down-sampling layers of `model` in module order; the layers inside a found one are not searched."""
    sites: list[DownsamplingSite] = []
    for path, module in model.named_modules():
        if any(path.startswith(f"{site.path}.") for site in sites):
            continue
        if (site := _site(path, module)) is not None:
            sites.append(site)
    return sites


def undecimated(layer: nn.Module, x: Tensor) -> Tensor:
    """The stride-1 map `(N, C', 2h, 2w)` whose even samples are `layer(x)` `(N, C', h, w)`: phase `(a, b)` is
    `layer` on `x` rolled by `(-a, -b)` (its `forward`, so no hook fires again)."""
    phases = [[layer.forward(torch.roll(x, (-a, -b), dims=(2, 3))) for b in (0, 1)] for a in (0, 1)]
    out = phases[0][0]
    y = out.new_empty(*out.shape[:2], 2 * out.shape[2], 2 * out.shape[3])
    for a in (0, 1):
        for b in (0, 1):
            y[..., a::2, b::2] = phases[a][b]
    return y


def _recorder(store: list[np.ndarray], passing_db: float) -> Callable:
    def record(layer: nn.Module, args: tuple, output: Tensor) -> None:
        y = undecimated(layer, args[0])
        store.append(torch.cat([aliased_share(y)[:, None], bin_classes(y, passing_db)], dim=1).cpu().numpy())
    return record


def measure_aliasing(model: nn.Module, images: Tensor, batch_size: int = 16,
                     passing_db: float = PASSING_DB) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Aliasing at every down-sampling site of `model` (eval mode, restored after) on `images` `(N, 3, H, W)`, the
    model's inputs (normalised as it expects).

    Returns the per-site frame (`COLUMNS`, one row per site) and, per polyphase site path, the per-image array
    `(N, 5)`: `aliased_share` then the `CLASSES` fractions (`metrics.aliasing`). A layer called more than once per
    forward gets one row per call and image.
    """
    sites = downsampling_sites(model)
    measured = {site.path: [] for site in sites if site.form == "polyphase"}
    handles = [model.get_submodule(path).register_forward_hook(_recorder(store, passing_db))
               for path, store in measured.items()]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                model(images[start:start + batch_size])
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    per_image = {path: np.concatenate(store) for path, store in measured.items()}
    rows = []
    for site in sites:
        values = per_image.get(site.path)
        means = np.nanmean(values, axis=0) if values is not None else np.full(1 + len(CLASSES), np.nan)
        rows.append((site.path, site.pool, site.form or "none", 0 if values is None else len(values), *means))
    return pd.DataFrame(rows, columns=list(COLUMNS)), per_image


def probe_aliasing(model: str | nn.Module, data: str | Path, run: "RunOptions | None" = None,
                   options: "ModelOptions | None" = None) -> pd.DataFrame:
    """`measure_aliasing` of `model` (a name or module as `evaluate` takes it, `engine.model.prepare_model` with
    `options`) on `run.limit` evenly spaced clean images of `data` (a folder, CIFAR test pickles or "demo"), read
    at the model's size and normalised as it expects, `run.batch_size` images per forward pass on `run.device`.

    With `run.out` the sites go to that results store's `probes` table (`probes.store`): the store is opened (its
    writer lock taken) before the measurement, and one transaction writes all of a model's sites, so a killed
    probe wrote all or nothing. Stored sites of the same model, weights and data set measured with the same
    settings (fingerprint: the images' content digest, their number, limit, how they were read:
    `suites.base.read_as`) are returned without measuring again, unless `run.overwrite`. Returns the per-site
    frame (`COLUMNS`)."""
    from robustbench_lift.data import evenly_spaced, open_clean
    from robustbench_lift.engine.device import resolve_device
    from robustbench_lift.engine.model import prepare_model
    from robustbench_lift.engine.options import ModelOptions, RunOptions
    from robustbench_lift.probes.store import load_probes, put_probe
    from robustbench_lift.store import ResultStore
    from robustbench_lift.suites.base import read_as
    from robustbench_lift.suites.options import SuiteOptions, at_model_size, reading

    run = run or RunOptions()
    device = resolve_device(run.device)
    prepared = prepare_model(model, options or ModelOptions(), seed=run.seed)  # a bad request fails before the store
    read = at_model_size(SuiteOptions(), *prepared.sizes)
    clean = open_clean(data, None, read.resize, read.crop, **reading(read))
    indices = evenly_spaced(len(clean), run.limit)
    fingerprint = json.loads(json.dumps({"data": clean.fingerprint(), "images": len(clean), "limit": run.limit,
                                         **read_as(clean)}))  # as the store gives it back
    key = (prepared.name, prepared.weights_sha256, "aliasing", Path(str(data)).name)
    with ResultStore(run.out or ":memory:") as store:  # the writer lock, before the measurement
        if run.out and not run.overwrite:
            stored = load_probes(store, "aliasing")
            mine = stored[(stored["model"] == key[0]) & (stored["weights_sha256"] == key[1])
                          & (stored["dataset"] == key[3])]
            if len(mine) and all(json.loads(f) == fingerprint for f in mine["fingerprint"]):
                return mine[list(COLUMNS)].reset_index(drop=True)
        images = torch.stack([clean[int(i)][1] for i in indices]).to(device).float().div_(255)
        mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in (prepared.mean, prepared.std))
        frame, per_image = measure_aliasing(prepared.module.to(device), (images - mean) / std, run.batch_size)
        put_probe(store, key, frame, per_image, fingerprint)
    return frame
