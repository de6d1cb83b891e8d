"""`record_sites`: suite freq's per-site sensitivity (`suites.freq_sites`) of one model, into its results store.

    >>> from robustbench_lift.engine import ModelOptions, RunOptions
    >>> rows = record_sites("demo-lift", FreqOptions(freq_step=8), "demo", RunOptions(limit=10, out="r.db"),
    ...                     ModelOptions(weights="DEFAULT"))  # doctest: +SKIP

The same images (`RunOptions.limit`, evenly spaced), frequencies, eps and signs as the model's heat map cells.
"""

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from robustbench_lift.data import evenly_spaced
from robustbench_lift.engine.device import resolve_device
from robustbench_lift.engine.model import prepare_model
from robustbench_lift.engine.options import ModelOptions, RunOptions
from robustbench_lift.store import ResultStore
from robustbench_lift.store.sites import put_sites
from robustbench_lift.suites import make_suite
from robustbench_lift.suites.freq_sites import site_sensitivity
from robustbench_lift.suites.options import FreqOptions, at_model_size


def record_sites(model: str | nn.Module, options: FreqOptions, data: str | Path, run: RunOptions,
                 described: ModelOptions | None = None) -> pd.DataFrame:
    """Measure the per-site sensitivity of `model` over the first `run.limit` evenly spaced images of `data` and
    write it to `run.out` (table `freq_sites`); returns the rows `(site, position, cell, l2)`."""
    device = resolve_device(run.device)
    prepared = prepare_model(model, described or ModelOptions(), seed=run.seed)
    native = prepared.preprocess
    sizes = (native.input_size, native.resize, native.interpolation, native.crop_mode,
             native.border_fill) if native is not None else ()
    suite = make_suite("freq", data, at_model_size(options, *sizes), seed=run.seed, device=str(device))
    indices = [int(i) for i in evenly_spaced(len(suite.source), run.limit)]
    images = torch.stack([suite.source[i][1] for i in indices]).to(device)
    rows = site_sensitivity(prepared.module.to(device), images, indices, suite.offsets, suite.eps, run.seed,
                            prepared.mean, prepared.std, run.batch_size)
    fingerprint = {**suite.groups()[0].fingerprints[(rows["cell"].iloc[0], 0)], **suite.read_as} if len(rows) else {}
    if run.out:
        with ResultStore(run.out) as store:
            put_sites(store, (prepared.name, prepared.weights_sha256, suite.dataset), rows, len(indices), fingerprint)
    return rows
