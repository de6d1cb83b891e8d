"""Suite `freq` in the report: `freq_err` / `freq_high_err` against the cells' errors averaged independently, the
band table, the heat map's grid and mirror, paired deltas of two models and the figures."""

import numpy as np
import pytest
from evaluate_fixtures import photo_set, tiny_model, write_folder
from single_thread_fixtures import single_thread  # noqa: F401

from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.metrics.freq import heat_map, is_high
from robustbench_lift.report.figures_freq import difference_maps, heat_maps
from robustbench_lift.report.summary import load
from robustbench_lift.report.tables import report_tables
from robustbench_lift.suites.options import FreqOptions


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("freq_report")
    images, labels = photo_set(16)
    write_folder(root / "photos", images, labels)
    out = root / "r.db"
    for name, seed in (("tiny-a", 4), ("tiny-b", 5)):
        model = tiny_model(seed=seed)
        evaluate(model, FreqOptions(resize=None, crop=None, eps=6.0, freq_step=2), root / "photos",
                 run=RunOptions(out=out, progress=False, seed=1), options=ModelOptions(name=name))
    return out


def test_heat_map_grid_mirror_and_wrap():
    grid, u0, v0, step = heat_map({(-4, -2): 1.0, (0, 2): 2.0, (-4, 0): 3.0}, (8, 8))
    assert (u0, v0, step) == (-4, -2, 2) and grid.shape == (5, 3)
    assert grid[0, 0] == 1.0 and grid[4, 2] == 1.0  # (-4, -2) and its mirror (4, 2)
    assert grid[0, 2] == 1.0  # its partner wrapped at the Nyquist row: (-4, 2)
    assert grid[2, 2] == 2.0 and grid[2, 0] == 2.0 and grid[0, 1] == 3.0 and grid[4, 1] == 3.0
    assert np.isnan(grid[1, 1])
    assert is_high((4, 0), (16, 16)) and is_high((0, -4), (16, 16)) and not is_high((3, 3), (16, 16))


def test_summary_bands_and_paired_deltas(store):
    tables = report_tables(store, baseline="tiny-a", n_boot=200)
    summary = tables["summary"][0]
    frame = load(store)
    for label in ("tiny-a", "tiny-b"):
        cells = frame[(frame["label"] == label) & frame["corruption"].str.startswith("fourier_")]
        offsets = [tuple(map(int, name.split("_")[1:])) for name in cells["corruption"]]
        high = np.array([max(abs(u), abs(v)) >= 4 for u, v in offsets])  # 1/4 cycle per pixel at 16 px
        errors = cells["top1_err"].to_numpy()
        assert len(cells) == 34  # offsets -8..6 step 2: 64 positions, 4 self-partnered: (64 + 4) / 2
        row = summary.loc[label]
        assert row["freq_err"] == pytest.approx(100 * errors.mean())
        assert row["freq_high_err"] == pytest.approx(100 * errors[high].mean())
        assert row["freq_err_lo"] <= row["freq_err"] <= row["freq_err_hi"]
        bands = tables["freq_band"][0][label]
        radius = np.array([max(abs(u), abs(v)) / 16 for u, v in offsets])
        assert bands["0-0.125"] == pytest.approx(100 * errors[radius < 0.125].mean())
        assert bands["0.25-0.5"] == pytest.approx(100 * errors[high].mean())
    deltas = tables["deltas"][0]
    assert deltas.loc["tiny-b", "freq_err"] == pytest.approx(summary.loc["tiny-b", "freq_err"]
                                                             - summary.loc["tiny-a", "freq_err"], abs=1e-9)
    b = deltas.loc["tiny-b"]
    assert b["freq_err_lo"] <= b["freq_err"] <= b["freq_err_hi"]


def test_figures(store):
    frame = load(store, predictions=True)
    assert len(heat_maps(frame).axes) == 3  # two panels and the colour bar
    assert len(difference_maps(frame, "tiny-a").axes) == 2
    assert difference_maps(frame, None) is None
