"""The frequency probes from the command line (issue 26): `liftbench probe aliasing` and `evaluate --suite freq
--sites` on the demo data with a shipped demo model write their rows, a rerun reuses them, `report` draws both,
and bad requests are one-line errors before any work."""

import numpy as np
import pandas as pd
import pytest
from test_cli_options import invoke

from corruptions.fourier import canonical_offsets
from robustbench_lift.probes.store import load_probes
from robustbench_lift.store import ResultStore
from robustbench_lift.store.sites import load_sites

MODEL = ["--model", "demo-max", "--weights", "DEFAULT", "--data", "demo", "--limit", "8"]
FREQ = ["--suite", "freq", "--freq-step", "8", "--no-progress", "--bootstrap", "0"]
DEMO_SITES = {f"layer{k}.0.{layer}" for k in (2, 3, 4) for layer in ("conv1", "downsample.0")}
"""demo-max's stride-2 layers: a CIFAR ResNet whose stages 2-4 start with a stride-2 conv1 and a stride-2 1x1
projection shortcut (models/demo.py, He et al.'s option B)."""


def _refuse(*args, **kwargs):
    raise AssertionError("measured again instead of reusing the stored rows")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding demo-max's freq cells with their per-site sensitivity and its aliasing probe."""
    db = tmp_path_factory.mktemp("probe") / "r.db"
    code, output = invoke(["evaluate", *MODEL, *FREQ, "--sites", "--out", str(db)])
    assert code == 0, output
    code, output = invoke(["probe", "aliasing", *MODEL, "--out", str(db)])
    assert code == 0 and "demo-max: aliased share per site: layer2.0.conv1 " in output, output
    return db


def test_probe_writes_each_site_and_a_rerun_reuses_it(store, monkeypatch):
    sites = load_probes(store, "aliasing", values=True)
    assert set(sites["site"]) == DEMO_SITES and (sites["form"] == "polyphase").all() and (sites["n"] == 8).all()
    for row in sites.itertuples():  # the stored summary is the mean of the stored per-image values
        assert row.values.shape == (8, 5)
        assert row.aliased_share == pytest.approx(row.values[:, 0].mean(), rel=1e-5)
        assert np.allclose(row.values[:, 1:].sum(axis=1), 1, atol=1e-4)  # the four classes partition the bins
    monkeypatch.setattr("robustbench_lift.probes.aliasing.measure_aliasing", _refuse)
    code, output = invoke(["probe", "aliasing", *MODEL, "--out", str(store)])
    assert code == 0, output
    again = load_probes(store, "aliasing")
    pd.testing.assert_frame_equal(again.drop(columns="finished_at"), sites.drop(columns=["finished_at", "values"]))


def test_sites_flag_writes_what_record_sites_writes(store, tmp_path, monkeypatch):
    from robustbench_lift.engine import ModelOptions, RunOptions
    from robustbench_lift.engine.freq_sites import record_sites
    from robustbench_lift.suites.options import FreqOptions

    rows = load_sites(store)
    cells = len(canonical_offsets((32, 32), step=8))
    assert len(rows) == len(DEMO_SITES) * 2 * cells and set(rows["site"]) == DEMO_SITES and (rows["n"] == 8).all()
    python = record_sites(["demo-max"], FreqOptions(freq_step=8), "demo", RunOptions(limit=8, out=tmp_path / "p.db"),
                          ModelOptions(weights="DEFAULT"))  # the documented Python call: one code path
    merged = rows.rename(columns={"corruption": "cell"}).merge(python, on=["model", "site", "position", "cell"])
    assert len(merged) == len(rows) and np.allclose(merged["l2_x"], merged["l2_y"], rtol=1e-5)
    monkeypatch.setattr("robustbench_lift.engine.freq_sites.site_sensitivity", _refuse)
    code, output = invoke(["evaluate", *MODEL, *FREQ, "--sites", "--out", str(store)])
    assert code == 0, output


def test_report_draws_the_aliasing_and_site_figures(store, tmp_path):
    code, output = invoke(["report", str(store), "--out", str(tmp_path), "--no-grid", "--n-boot", "0",
                           "--format", "md,html"])
    assert code == 0, output
    page = (tmp_path / "report.html").read_text()
    assert "Aliasing per down-sampling site" in page and "Fourier perturbations through the down-sampling" in page
    assert (tmp_path / "figures" / "aliasing.png").is_file() and (tmp_path / "figures" / "freq_sites.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["probe", "aliasing", *MODEL, "--limit", "0"], "--limit"),
    (["probe", "aliasing", *MODEL, "--batch-size", "-1"], "--batch-size"),
    (["probe", "aliasing", *MODEL, "--weights", "DEFAULT"], "2 --weights for 1 --model"),
    (["probe", "aliasing", "--model", "demo-max", "--data", "demo", "--pool", "nope"], "nope"),
    (["evaluate", *MODEL, "--suite", "c", "--sites"], "does not take sites"),
])
def test_bad_requests_are_one_line_errors(tmp_path, args, message):
    code, output = invoke([*args, "--out", str(tmp_path / "r.db")])
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in output
    assert not (tmp_path / "r.db").exists()


def test_probe_refuses_a_store_in_use_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr("robustbench_lift.probes.aliasing.measure_aliasing", _refuse)
    with ResultStore(tmp_path / "r.db"):  # a writer of this process holds the store's lock
        code, output = invoke(["probe", "aliasing", *MODEL, "--out", str(tmp_path / "r.db")])
    assert code == 2 and "is in use" in output and "Traceback" not in output
    assert load_probes(tmp_path / "r.db", "aliasing").empty


def test_probe_takes_a_file_factory_and_measures_its_site(tmp_path):
    """`path.py:factory`, as evaluate takes it. Its only site, a 1x1 stride-2 conv with identity weights, has the
    normalised input as its stride-1 map, so the aliased share is the input's AC energy outside |f| <= n/4 per side,
    computed here with NumPy's FFT from the demo images."""
    from robustbench_lift.data import evenly_spaced
    from robustbench_lift.data.demo import demo_dataset
    from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD

    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build(num_classes=10):\n"
        "    conv = nn.Conv2d(3, 3, 1, stride=2, bias=False)\n"
        "    nn.init.dirac_(conv.weight)\n"
        "    return nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, num_classes))\n")
    code, output = invoke(["probe", "aliasing", "--model", f"{tmp_path / 'net.py'}:build", "--data", "demo",
                           "--limit", "4", "--out", str(tmp_path / "r.db")])
    assert code == 0, output
    stored = load_probes(tmp_path / "r.db", "aliasing", values=True)
    assert list(stored["site"]) == ["0"] and stored["model"].iloc[0].endswith("net.py:build")
    images = demo_dataset("test")[0][evenly_spaced(2000, 4)].double().numpy() / 255
    x = (images - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(IMAGENET_STD)[:, None, None]
    power = np.abs(np.fft.fft2(x - x.mean(axis=(2, 3), keepdims=True))) ** 2
    f = np.abs(np.fft.fftfreq(32) * 32)
    outside = (f[:, None] > 8) | (f[None, :] > 8)
    expected = (power * outside).sum(axis=(1, 2, 3)) / power.sum(axis=(1, 2, 3))
    assert np.allclose(stored["values"].iloc[0][:, 0], expected, rtol=1e-4)
