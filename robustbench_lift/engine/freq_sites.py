"""Suite freq's per-site sensitivity (`suites.freq_sites`) into a results store: `record_sites` for models by name,
`measure_sites` for one prepared model (what `evaluate` calls for `FreqOptions(sites=True)`).

    >>> from robustbench_lift.engine import ModelOptions, RunOptions
    >>> rows = record_sites(["demo-lift", "demo-max"], FreqOptions(freq_step=8), "demo",
    ...                     RunOptions(limit=10, out="r.db"), ModelOptions(weights="DEFAULT"))  # doctest: +SKIP

The same images (`RunOptions.limit`, evenly spaced), frequencies, eps and signs as the model's heat map cells.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from robustbench_lift.data import evenly_spaced
from robustbench_lift.engine.device import resolve_device
from robustbench_lift.engine.model import PreparedModel, prepare_model
from robustbench_lift.engine.options import ModelOptions, RunOptions
from robustbench_lift.metrics.freq import cell_name
from robustbench_lift.store import ResultStore
from robustbench_lift.store.sites import load_sites, put_sites
from robustbench_lift.suites import make_suite
from robustbench_lift.suites.freq import FreqSuite
from robustbench_lift.suites.freq_sites import site_sensitivity
from robustbench_lift.suites.options import FreqOptions, at_model_size


def measure_sites(prepared: PreparedModel, suite: FreqSuite, run: RunOptions, store: ResultStore,
                  device: torch.device) -> pd.DataFrame:
    """The per-site sensitivity of `prepared` over `run.limit` evenly spaced images of `suite` (built at the
    model's size), written to the open `store` (table `freq_sites`) in one transaction, unless the store file holds
    that model's rows measured with the same settings (fingerprint: data, eps, window, step, seed, input size; and
    as many images) and `run.overwrite` is off. Returns the rows `(model, site, position, cell, l2)`."""
    indices = [int(i) for i in evenly_spaced(len(suite.source), run.limit)]
    first = suite.groups()[0].fingerprints[(cell_name(suite.offsets[0]), 0)]  # data, eps, window, step, seed
    settings = json.loads(json.dumps({**first, **suite.read_as}))  # as the store gives it back
    key = (prepared.name, prepared.weights_sha256, suite.dataset)
    stored = pd.DataFrame() if run.overwrite else load_sites(store)
    mine = stored[(stored["model"] == key[0]) & (stored["weights_sha256"] == key[1])
                  & (stored["dataset"] == key[2])] if len(stored) else stored
    if len(mine) and all(f == settings and n == len(indices) for f, n in zip(mine["fingerprint"], mine["n"])):
        rows = mine.rename(columns={"corruption": "cell"})[["site", "position", "cell", "l2"]]
    else:
        images = torch.stack([suite.source[i][1] for i in indices]).to(device)
        rows = site_sensitivity(prepared.module.to(device), images, indices, suite.offsets, suite.eps, run.seed,
                                prepared.mean, prepared.std, run.batch_size)
        put_sites(store, key, rows, len(indices), settings)  # one transaction: a killed run wrote all or nothing
    return rows.assign(model=prepared.name)


def record_sites(models: Sequence[str | nn.Module], options: FreqOptions, data: str | Path, run: RunOptions,
                 described: ModelOptions | None = None) -> pd.DataFrame:
    """`measure_sites` of each of `models` (names or modules, `engine.model.prepare_model` with `described`) on
    `data` into `run.out` (None: an in-memory store), whose writer lock is held from the first model to the last.
    Returns the rows `(model, site, position, cell, l2)`. Models read at one size share one decoded data set."""
    device = resolve_device(run.device)
    suites: dict[tuple, FreqSuite] = {}
    found = []
    with ResultStore(run.out or ":memory:") as store:
        for model in models:
            prepared = prepare_model(model, described or ModelOptions(), seed=run.seed)
            sizes = prepared.sizes
            if sizes not in suites:
                suites[sizes] = make_suite("freq", data, at_model_size(options, *sizes), seed=run.seed,
                                           device=str(device))
            found.append(measure_sites(prepared, suites[sizes], run, store, device))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()
