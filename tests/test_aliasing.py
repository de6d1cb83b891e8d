"""Aliasing measures against closed forms: white noise through plain subsampling has 3/4 of its (AC) energy out of
band in expectation, an ideal box low-pass (flc) none, BlurPool the share its binomial frequency response gives
(cos^6 per side, computed here from the formula); the per-bin classes of single cosines; the folding identity;
every polyphase pooling's rebuilt stride-1 map decimates to its output; the probe on a small model."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustbench_lift.metrics.aliasing import (
    aliased_share,
    bin_classes,
    folds,
    in_band,
    response_aliased_share,
    signed_bins,
)
from robustbench_lift.pooling import create_pool
from robustbench_lift.probes.aliasing import COLUMNS, downsampling_sites, measure_aliasing, undecimated

SIDE = 32


def _noise(n: int = 4, channels: int = 16, side: int = SIDE, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, channels, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _white_share(side: int) -> float:
    """Expected share for white noise: out-of-band bins over AC bins (each bin has the same expected energy): the
    band is (side/2 + 1)^2 bins, |f| <= side/4, so 3/4 up to the output's Nyquist lines."""
    return (side * side - (side // 2 + 1) ** 2) / (side * side - 1)


def _tolerance(channels: int, side: int) -> float:
    # ratio of sums of ~channels * side^2 unit exponentials: standard deviation ~ sqrt(p (1 - p) / M); 5 of them
    return 5 * math.sqrt(0.75 * 0.25 / (channels * side * side))


def test_band_and_folding_identity():
    assert signed_bins(8).tolist() == [0, 1, 2, 3, -4, -3, -2, -1]
    assert in_band(8, 8)[:, 0].tolist() == [True, True, True, False, False, False, True, True]
    y = _noise(2, 3, 14)
    torch.testing.assert_close(folds(y).mean(dim=(2, 3)), torch.fft.fft2(y[..., ::2, ::2]))


def test_white_noise_through_plain_subsampling_aliases_three_quarters():
    x = _noise()
    y = undecimated(create_pool("skip", 16), x)
    assert torch.equal(y, x)  # plain subsampling is the identity map, decimated
    shares = aliased_share(y)
    assert (shares - _white_share(SIDE)).abs().max() < _tolerance(16, SIDE)
    assert _white_share(SIDE) == pytest.approx(0.75, abs=2 / SIDE)
    assert _white_share(224) == pytest.approx(0.75, abs=0.01)


def test_an_ideal_box_low_pass_aliases_nothing():
    x = _noise()
    y = undecimated(create_pool("flc", 16), x)
    mask = np.fft.fftfreq(SIDE) * SIDE
    keep = (mask >= -SIDE / 4) & (mask < SIDE / 4)  # FLC's bins; its real part puts half of -SIDE/4 at +SIDE/4
    box = np.fft.ifft2(np.fft.fft2(x.numpy()) * (keep[:, None] & keep[None, :])).real
    np.testing.assert_allclose(y.numpy(), box, atol=1e-6)  # FLC's float32 FFT
    assert aliased_share(y).max() < 1e-10


def _binomial4_share(side: int) -> float:
    """binomial taps [1, 3, 3, 1] / 8: |H(w)|^2 = cos^6(w / 2) per side; white noise weights every bin by it."""
    response = np.cos(np.pi * np.fft.fftfreq(side)) ** 6
    power = response[:, None] * response[None, :]
    power[0, 0] = 0
    band = np.abs(np.fft.fftfreq(side) * side) <= side / 4
    return power[~(band[:, None] & band[None, :])].sum() / power.sum()


def test_blur_share_is_its_frequency_response():
    kernel = torch.tensor([1.0, 3, 3, 1])
    expected = _binomial4_share(64)
    assert response_aliased_share(torch.outer(kernel, kernel) / 64, 64, 64) == pytest.approx(expected, abs=1e-12)
    layer = create_pool("blur", 8).double()
    noise = _noise(4, 8, 64)
    circular = F.conv2d(F.pad(noise, (1, 2, 1, 2), mode="circular"), layer.filt, groups=8)  # BlurPool's taps
    assert aliased_share(circular).mean().item() == pytest.approx(expected, abs=0.005)
    # the layer's own map: reflection at the borders adds high frequencies, O(1/side) of the energy
    shares = aliased_share(undecimated(layer, _noise(4, 8, 128)))
    assert shares.mean().item() == pytest.approx(_binomial4_share(128), abs=0.01)
    assert expected < 0.1 < _white_share(64)


@pytest.mark.parametrize("pool", ["max", "avg", "skip", "blur", "haar", "flc", "dwt", "lift", "pasa"])
def test_every_polyphase_map_decimates_to_the_pooling(pool):
    layer = create_pool(pool, 8).eval()
    x = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(undecimated(layer, x)[..., ::2, ::2], layer(x))


def _cosine(row_frequency: int, side: int = SIDE) -> torch.Tensor:
    rows = torch.arange(side, dtype=torch.float64)
    return torch.cos(2 * math.pi * row_frequency * rows / side)[:, None].expand(side, side)


def test_classes_of_single_cosines():
    bins = (SIDE // 2) ** 2
    cases = {  # bins at +-f: in band -> 2 non-aliased; out of band -> 2 aliased; both onto one bin -> tangled
        "in band": (_cosine(3), [2 / bins, 0, 0, 1 - 2 / bins]),
        "out of band": (_cosine(SIDE // 2 - 3), [0, 2 / bins, 0, 1 - 2 / bins]),
        "folded onto each other": (_cosine(3) + 0.5 * _cosine(SIDE // 2 - 3), [0, 0, 2 / bins, 1 - 2 / bins]),
    }
    for name, (image, expected) in cases.items():
        got = bin_classes(image[None, None]).double()[0]
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), msg=name)


def test_probe_reports_every_site_and_leaves_adaptive_ones_alone():
    model = nn.Sequential(create_pool("skip", 3), nn.Conv2d(3, 4, 3, stride=2, padding=1), create_pool("aps", 4),
                          nn.MaxPool2d(2), nn.Flatten())
    sites = downsampling_sites(model)
    assert [(s.path, s.pool, s.form) for s in sites] == [("0", "skip", "polyphase"), ("1", "conv", "polyphase"),
                                                         ("2", "aps", "adaptive"), ("3", "max", "polyphase")]
    x = torch.randn(6, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    frame, per_image = measure_aliasing(model, x, batch_size=4)
    assert list(frame["n"]) == [6, 6, 0, 6] and frame["aliased_share"].isna().tolist() == [False, False, True, False]
    assert per_image["0"].shape == (6, 5) and np.allclose(per_image["0"][:, 1:].sum(axis=1), 1)
    assert abs(frame.loc[0, "aliased_share"] - _white_share(64)) < _tolerance(3 * 6, 64)
    assert model.training


def test_figure_draws_each_site_and_leaves_adaptive_ones_empty():
    from robustbench_lift.report.figures_aliasing import aliasing_per_site

    frame = pd.DataFrame([("a", "blur", "polyphase", 3, 0.1, 0.5, 0.1, 0.2, 0.2),
                          ("b", "aps", "adaptive", 0, *[np.nan] * 5)], columns=list(COLUMNS))
    fig = aliasing_per_site({"m": frame})
    share, classes = fig.axes[:2]
    assert [round(p.get_height(), 6) for p in share.patches][0] == 10.0 and np.isnan(share.patches[1].get_height())
    assert [round(p.get_height(), 6) for p in classes.patches[::2]] == [50.0, 10.0, 20.0, 20.0]


def test_probe_results_round_trip_through_the_store(tmp_path):
    from PIL import Image

    from robustbench_lift.engine.options import RunOptions
    from robustbench_lift.probes.aliasing import probe_aliasing
    from robustbench_lift.probes.store import load_probes
    from robustbench_lift.store import ResultStore

    rng = np.random.default_rng(0)
    (tmp_path / "data" / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "data" / "a" / f"{i}.png")
    model = nn.Sequential(create_pool("skip", 3), create_pool("aps", 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(3, 2))
    store = tmp_path / "r.db"
    ResultStore(store).close()
    assert load_probes(store, "aliasing").empty  # a store written before probes existed
    frame = probe_aliasing(model, str(tmp_path / "data"), RunOptions(out=store, limit=2))
    loaded = load_probes(store, "aliasing", values=True)
    assert list(loaded["site"]) == ["0", "1"] and list(loaded["form"]) == ["polyphase", "adaptive"]
    assert loaded.loc[0, "values"].shape == (2, 5) and loaded.loc[1, "values"].shape == (0, 5)
    assert loaded.loc[0, "aliased_share"] == pytest.approx(frame.loc[0, "aliased_share"], rel=1e-6)
    assert np.isnan(loaded.loc[1, "aliased_share"])
    with ResultStore(store, readonly=True) as readonly:  # the cells schema is unchanged
        assert list(readonly.cells()) == []


def test_the_report_shows_the_probed_sites(tmp_path):
    from PIL import Image

    from robustbench_lift.engine.evaluation import evaluate
    from robustbench_lift.engine.options import RunOptions
    from robustbench_lift.probes.aliasing import probe_aliasing
    from robustbench_lift.report.build import build_report
    from robustbench_lift.suites.options import CleanOptions

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "data" / name / "0.png")
    model = nn.Sequential(create_pool("blur", 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    store = tmp_path / "r.db"
    evaluate(model, CleanOptions(resize=None, crop=None), tmp_path / "data", run=RunOptions(out=store, progress=False))
    build_report(store, tmp_path / "without", formats=("md", "html"), grid=False, n_boot=10)
    assert "Aliasing per down-sampling site" not in (tmp_path / "without" / "report.html").read_text()
    probe_aliasing(model, str(tmp_path / "data"), RunOptions(out=store))
    build_report(store, tmp_path / "with", formats=("md", "html"), grid=False, n_boot=10)
    assert "Aliasing per down-sampling site" in (tmp_path / "with" / "report.html").read_text()
    assert (tmp_path / "with" / "figures" / "aliasing.png").is_file()
