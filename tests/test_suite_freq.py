"""Suite `freq` (Fourier heat map): a model that low-pass filters its input perfectly keeps its clean predictions
at every frequency outside its pass band; cells, fingerprints and options; a second run reuses every cell."""

import numpy as np
import pytest
import torch
from evaluate_fixtures import photo_set, tiny_model, write_folder
from single_thread_fixtures import single_thread  # noqa: F401
from torch import nn

from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.freq import parse_cell
from robustbench_lift.suites import make_suite
from robustbench_lift.suites.options import FreqOptions

SIDE, PASS = 16, 2
KEEP = {"resize": None, "crop": None}  # the folder's 16 px images as they are


class LowPassThen(nn.Module):
    """An ideal box low-pass (FFT; frequencies with max(|u|, |v|) <= `band` kept), then `TinyNet`; counts calls."""

    def __init__(self, band: int) -> None:
        super().__init__()
        self.band, self.net, self.calls = band, tiny_model(), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        u = torch.fft.fftfreq(x.shape[-2], 1 / x.shape[-2], device=x.device).abs().view(-1, 1)
        v = torch.fft.fftfreq(x.shape[-1], 1 / x.shape[-1], device=x.device).abs().view(1, -1)
        keep = ((u <= self.band) & (v <= self.band)).to(x.dtype)
        return self.net(torch.fft.ifft2(torch.fft.fft2(x.double()) * keep).real.float())


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    images, labels = photo_set(SIDE)
    root = tmp_path_factory.mktemp("freq") / "photos"
    write_folder(root, images // 2 + 64, labels)  # in [64, 191]: eps 2 (at most 0.18 per pixel) never clips
    return root


def test_low_pass_model_has_its_clean_predictions_outside_the_pass_band(photos):
    frame = evaluate(LowPassThen(PASS), FreqOptions(eps=2.0, **KEEP), photos, run=RunOptions(progress=False))
    cells = {row.corruption: row for row in frame.itertuples()}
    clean = cells.pop("clean")
    assert len(cells) == (SIDE * SIDE + 4) // 2  # one cell per distinct basis image
    inside = []
    for name, row in cells.items():
        u, v = parse_cell(name)
        if max(abs(u), abs(v)) > PASS:
            np.testing.assert_array_equal(row.predictions, clean.predictions, err_msg=name)
            assert row.top1_err == clean.top1_err
        else:
            inside.append((row.predictions[:, 0] != clean.predictions[:, 0]).any())
    assert any(inside)  # the pass band does move the predictions: the equality above is not vacuous


def test_cells_fingerprints_and_defaults(photos):
    suite = make_suite("freq", photos, FreqOptions(freq_window=5, freq_step=2, **KEEP), seed=3)
    (group,) = suite.groups()
    assert group.cells == [("clean", 0), ("fourier_-2_-2", 0), ("fourier_-2_0", 0), ("fourier_-2_2", 0),
                           ("fourier_0_-2", 0), ("fourier_0_0", 0)]
    fingerprint = group.fingerprints[("fourier_0_0", 0)]
    assert {k: fingerprint[k] for k in ("eps", "freq_window", "freq_step", "seed", "source")} == \
        {"eps": 4.0, "freq_window": 5, "freq_step": 2, "seed": 3, "source": "fourier"}  # 16 px: CIFAR's eps
    assert make_suite("freq", photos, FreqOptions(resize=256, crop=224)).eps == 15.7
    assert make_suite("freq", photos, FreqOptions(resize=256, crop=224)).window == 63
    with pytest.raises(UsageError, match="--freq-window must be in 1..16"):
        make_suite("freq", photos, FreqOptions(freq_window=17, **KEEP))


def test_second_run_reuses_every_cell(photos, tmp_path):
    model, options = LowPassThen(PASS), FreqOptions(freq_window=4, **KEEP)
    run = RunOptions(out=tmp_path / "r.db", batch_size=16, progress=False)
    first = evaluate(model, options, photos, run=run)
    calls = model.calls  # offsets -2..1: 7 with a -2 (partner outside), 4 pairs and DC in -1..1
    second = evaluate(model, options, photos, run=run)
    assert calls > 0 and model.calls == calls and len(first) == len(second) == 1 + 7 + 4 + 1
    for a, b in zip(first.itertuples(), second.itertuples()):
        np.testing.assert_array_equal(a.predictions, b.predictions)
    with pytest.raises(UsageError, match="eps: stored 4.0, now 1.0"):  # another eps is another cell
        evaluate(model, FreqOptions(freq_window=4, eps=1.0, **KEEP), photos, run=run)
