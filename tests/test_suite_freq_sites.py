"""Per-site sensitivity of suite freq (`suites.freq_sites`, `store.sites`) against closed forms: the sites of a toy
network, the l2 change before a 2x2 average pool (eps times the norm of 1/std, for every frequency: unit basis
images, no clipping) and after it (half of it at DC, none at the Nyquist row, which the pool averages to 0); the
store table written and read back, absent in an older store."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from corruptions.fourier import canonical_offsets
from robustbench_lift.report.figures_freq import stored_site_bars
from robustbench_lift.store import ResultStore
from robustbench_lift.store.sites import load_sites, put_sites
from robustbench_lift.suites.freq_sites import downsampling_sites, site_sensitivity

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)


def test_sites_are_the_innermost_downsampling_modules():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(
        4, 4, 1)), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    assert list(downsampling_sites(model, 32)) == ["1", "2.0", "3"]  # the global pool is no site


def test_l2_change_before_and_after_an_average_pool():
    model = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3 * 16, 2))
    images = torch.randint(90, 166, (5, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    offsets = canonical_offsets((8, 8))
    eps = 0.5  # at most 0.5 * sqrt(2) / 8 = 0.09 per pixel: images in [0.35, 0.65] never clip
    rows = site_sensitivity(model, images, list(range(5)), offsets, eps, 3, MEAN, STD, batch_size=2)
    table = rows.pivot_table(index="cell", columns="position", values="l2")
    before = eps * np.sqrt(np.sum(1 / np.square(STD)))
    np.testing.assert_allclose(table["in"], before, rtol=1e-5)
    assert table.loc["fourier_0_0", "out"] == pytest.approx(before / 2, rel=1e-5)
    assert table.loc["fourier_-4_0", "out"] == pytest.approx(0, abs=1e-5)
    assert (table["out"] <= table["in"] + 1e-6).all()  # a 2x2 average never amplifies


def test_store_table_round_trip_and_older_stores(tmp_path):
    path = tmp_path / "r.db"
    with ResultStore(path):
        pass
    assert load_sites(path).empty  # a store without the table reads as no rows
    assert stored_site_bars(path) == {}
    rows = pd.DataFrame({"site": ["a", "a"], "position": ["in", "out"], "cell": ["fourier_0_0"] * 2, "l2": [2.0, 1.0]})
    with ResultStore(path) as store:
        put_sites(store, ("m", "sha", "demo"), rows, 7, {"eps": 4.0, "input_size": 32})
    back = load_sites(path)
    assert back[["site", "position", "corruption", "l2", "n"]].values.tolist() == [
        ["a", "in", "fourier_0_0", 2.0, 7], ["a", "out", "fourier_0_0", 1.0, 7]]
    assert back["fingerprint"].iloc[0] == {"eps": 4.0, "input_size": 32}
    assert list(stored_site_bars(str(path))) == ["freq_sites"]  # what build_report adds to the report


def test_transmission_per_site_and_band():
    from robustbench_lift.report.figures_freq import site_bars, site_transmission

    cells, values = ["fourier_0_0", "fourier_-4_0", "fourier_1_1"], {"in": [4.0, 2.0, 6.0], "out": [2.0, 0.0, 1.0]}
    sites = pd.DataFrame([{"model": "m", "dataset": "d", "site": site, "position": position, "corruption": cell,
                           "l2": scale * values[position][k], "fingerprint": {"input_size": 8}}
                          for site, scale in (("s1", 1.0), ("s2", 3.0)) for position in ("in", "out")
                          for k, cell in enumerate(cells)])
    table = site_transmission(sites).set_index(["site", "band"])["transmission"]
    assert table[("s1", "low")] == pytest.approx((2 + 1) / (4 + 6))  # 8 px: (-4, 0) is high, the others low
    assert table[("s1", "high")] == 0 and table[("s2", "low")] == pytest.approx(0.3)
    assert len(site_bars(sites).axes) == 2


def test_record_sites_writes_once_and_reuses(tmp_path):
    from evaluate_fixtures import photo_set, tiny_model, write_folder

    from robustbench_lift.engine import ModelOptions, RunOptions
    from robustbench_lift.engine.freq_sites import record_sites
    from robustbench_lift.suites.options import FreqOptions

    images, labels = photo_set(16)
    write_folder(tmp_path / "photos", images, labels)
    model = nn.Sequential(nn.Conv2d(3, 3, 3, stride=2, padding=1), tiny_model())
    options, run = FreqOptions(resize=None, crop=None, freq_step=4), RunOptions(limit=4, out=tmp_path / "r.db")
    first = record_sites([model], options, tmp_path / "photos", run, ModelOptions(name="m"))
    assert set(first["site"]) == {"0"} and len(first) == 2 * len(canonical_offsets((16, 16), step=4))
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    again = record_sites([model], options, tmp_path / "photos", run, ModelOptions(name="m"))
    assert not calls and np.allclose(again.sort_values(["cell", "position"])["l2"],
                                     first.sort_values(["cell", "position"])["l2"])
    stored = load_sites(tmp_path / "r.db")
    assert (stored["n"] == 4).all() and stored["fingerprint"].iloc[0]["eps"] == 4.0
    record_sites([model], options, tmp_path / "photos", replace(run, overwrite=True), ModelOptions(name="m"))
    assert calls  # --overwrite measures again
