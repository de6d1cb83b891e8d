"""The published anti-aliasing poolings (APS, LPS, FLC, ASAP, PASA, WaveCNet DWT) against facts from their papers
and code (docs/poolings.md), each checked by an independent computation."""

import math

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F
import torchvision

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models.sites import Pooling
from robustbench_lift.models.swap import swap_pooling
from robustbench_lift.pooling import create_pool, share_shortcut_choice
from robustbench_lift.pooling.polyphase import PolyphasePool2d

NEW = ("aps", "lps", "flc", "asap", "pasa", "dwt")


def _components(x: torch.Tensor) -> list[torch.Tensor]:
    """The four polyphase components of an even-sided `x`, row offset major."""
    return [x[..., r::2, c::2] for r in (0, 1) for c in (0, 1)]


# ---- FLC / ASAP ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", [8, 12, 7, 9])
def test_flc_of_a_constant_is_the_constant(side):
    x = torch.full((1, 2, side, side + 4), 3.5, dtype=torch.float64)
    y = create_pool("flc", 2)(x)
    torch.testing.assert_close(y, torch.full_like(y, 3.5))
    torch.testing.assert_close(create_pool("flc", 2, norm="backward")(x)[0, 0, 0, 0].item(),
                               3.5 * side * (side + 4) / (y.shape[-2] * y.shape[-1]))


def test_flc_is_the_ideal_low_pass_of_a_band_limited_signal():
    """A sum of cosines inside the output band is kept exactly: the output is the input at the even samples."""
    n = 16
    t = torch.arange(n, dtype=torch.float64)
    rows = 1 + torch.cos(2 * math.pi * 3 * t / n + 0.4)  # |k| = 3 < n/4
    cols = torch.sin(2 * math.pi * 2 * t / n) + 0.5 * torch.cos(2 * math.pi * 1 * t / n)
    x = (rows[:, None] * cols[None, :]).expand(2, 3, n, n)
    torch.testing.assert_close(create_pool("flc", 3)(x), x[..., ::2, ::2])
    outside = torch.cos(2 * math.pi * 5 * t / n)  # |k| = 5 > n/4: removed entirely
    torch.testing.assert_close(create_pool("flc", 1)(outside[:, None] * torch.ones(n).double()[None, :])[None, None],
                               torch.zeros(1, 1, 8, 8, dtype=torch.float64), atol=1e-12, rtol=0)


def test_flc_reproduces_their_crop_when_the_side_is_2_mod_4():
    """Their fftshift, crop [n//4, 3n//4), ifftshift on n = 14: the kept band is off by one bin, so a constant
    comes out as cos(2 pi j / 7) (the quirk their ResNets trained with at 14 x 14)."""
    y = create_pool("flc", 1, band="code")(torch.ones(1, 1, 14, 8, dtype=torch.float64))
    j = torch.arange(7, dtype=torch.float64)
    torch.testing.assert_close(y[0, 0, :, 0], torch.cos(2 * math.pi * j / 7))


@pytest.mark.parametrize("band", ["code", "half"])
def test_asap_is_a_hamming_windowed_flc_of_the_padded_input_for_any_size(band):
    """An independent numpy computation of their ASAP_padding_one: pad one zero row/column, window the centred
    spectrum by sqrt(hamming x hamming), keep the centre half, inverse transform. band="half" is the same where
    the side is divisible by 4 and keeps ceil(n/2) samples elsewhere."""
    pool = create_pool("asap", 2, band=band)
    for height, width in [(8, 12), (15, 10), (6, 21)] if band == "code" else [(8, 12), (16, 4)]:
        x = np.random.default_rng(height).standard_normal((1, 2, height, width))
        padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1)))
        h, w = padded.shape[-2:]
        spectrum = np.fft.fftshift(np.fft.fft2(padded, norm="forward"), axes=(-2, -1))
        spectrum *= np.sqrt(np.outer(np.hamming(h), np.hamming(w)))
        kept = spectrum[..., h // 4:3 * h // 4, w // 4:3 * w // 4]
        expected = np.fft.ifft2(np.fft.ifftshift(kept, axes=(-2, -1)), norm="forward").real
        torch.testing.assert_close(pool(torch.from_numpy(x)), torch.from_numpy(expected))
    assert create_pool("asap", 1)(torch.randn(1, 1, 14, 7)).shape == (1, 1, 7, 4)
    assert create_pool("asap", 1, band="code")(torch.randn(1, 1, 14, 7)).shape == (1, 1, 8, 4)


# ---- WaveCNet DWT ----------------------------------------------------------------------------------------------

def test_dwt_haar_is_twice_the_2x2_average():
    x = torch.randn(2, 3, 10, 14, dtype=torch.float64)
    torch.testing.assert_close(create_pool("dwt", 3).double()(x), 2 * F.avg_pool2d(x, 2))


@pytest.mark.parametrize("wavelet", ["db2", "bior2.2"])
def test_dwt_is_pywt_zero_mode_dwt2_with_their_offset(wavelet):
    """WaveCNet's row i starts rec_lo at sample 2i - (len/2 - 1) and drops taps outside the signal. pywt's
    zero-mode dwt2 with the synthesis filter as analysis filter (reversed, since pywt convolves) and the signal
    moved by the matching number of zero samples gives the same numbers."""
    w = pywt.Wavelet(wavelet)
    analysis = pywt.Wavelet("theirs", filter_bank=(w.rec_lo[::-1], w.rec_hi[::-1], w.rec_lo, w.rec_hi))
    x = np.random.default_rng(0).standard_normal((9, 12))
    lead = len(w.rec_lo) - 2 - (len(w.rec_lo) // 2 - 1)  # pywt's first window starts len - 2 samples early
    shifted = np.pad(x, ((lead % 2, 0), (lead % 2, 0)))
    start = (lead + lead % 2) // 2
    ll = pywt.dwt2(shifted, analysis, mode="zero")[0][start:start + 4, start:start + 6]
    ours = create_pool("dwt", 1, wavelet=wavelet).double()(torch.from_numpy(x)[None, None])[0, 0]
    assert ours.shape == (4, 6)  # floor(n/2), as their matrices
    torch.testing.assert_close(ours, torch.from_numpy(ll))


def test_dwt_unknown_wavelet_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown wavelet 'db99'.*haar, db2, bior2.2"):
        create_pool("dwt", 4, wavelet="db99")


# ---- APS / LPS -------------------------------------------------------------------------------------------------

def test_aps_keeps_the_max_norm_component_per_sample():
    x = torch.randn(3, 4, 6, 8)
    boost = [2, 0, 3]
    for n, k in enumerate(boost):
        x[n, :, k // 2::2, k % 2::2] *= 3
    y = create_pool("aps", 4)(x)
    for n in range(3):
        norms = [c[n].norm() for c in _components(x)]
        best = int(torch.stack(norms).argmax())
        assert best == boost[n]
        torch.testing.assert_close(y[n], _components(x)[best][n], rtol=0, atol=0)


@pytest.mark.parametrize("filter_size", [1, 3])
def test_aps_is_exactly_invariant_to_circular_shifts(filter_size):
    """A circular input shift by d moves the chosen component from offset r to (r + d) % 2 and shifts the output
    circularly by (r + d) // 2 samples, per axis (their paper's Eq. for circular shifts)."""
    pool = create_pool("aps", 2, filter_size=filter_size).double()
    x = torch.randn(4, 2, 8, 10, dtype=torch.float64)
    y = pool(x)
    rows, cols = pool.last_choice // 2, pool.last_choice % 2
    for dy, dx in [(1, 1), (3, 2), (0, 1), (5, 0)]:
        shifted = pool(torch.roll(x, (dy, dx), dims=(2, 3)))
        for n in range(4):
            expected = torch.roll(y[n], (int(rows[n] + dy) // 2, int(cols[n] + dx) // 2), dims=(1, 2))
            torch.testing.assert_close(shifted[n], expected, rtol=0, atol=1e-12)


def test_lps_eval_keeps_the_argmax_component_and_training_mixes_them():
    pool = create_pool("lps", 4, hidden=3).double()
    x = torch.randn(5, 4, 8, 6, dtype=torch.float64)
    net = pool.get_logits
    logits = torch.stack([net.conv2(net.relu(net.conv1(c))).mean(dim=(1, 2, 3)) for c in _components(x)], dim=1)
    y = pool.eval()(x)
    for n in range(5):
        torch.testing.assert_close(y[n], _components(x)[int(logits[n].argmax())][n], rtol=0, atol=0)
    torch.manual_seed(1)
    mixed = pool.train()(x)
    weights = pool.last_choice
    assert weights.shape == (5, 4) and torch.allclose(weights.sum(1), torch.ones(5, dtype=weights.dtype))
    torch.testing.assert_close(mixed, sum(w[:, None, None, None] * c for w, c in zip(weights.t(), _components(x))))
    mixed.sum().backward()
    assert net.conv1.weight.grad is not None and net.conv1.weight.grad.abs().sum() > 0


def test_follower_reuses_the_leaders_choice():
    leader, follower = create_pool("aps", 2), create_pool("aps", 3)
    follower.follow(leader)
    with pytest.raises(LiftbenchError, match="run the block's main branch before its shortcut"):
        follower(torch.randn(2, 3, 4, 4))
    x = torch.randn(2, 2, 4, 4)
    x[0, :, 1::2, 1::2] *= 5
    x[1, :, 0::2, 1::2] *= 5
    leader(x)
    z = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(follower(z), torch.stack([z[0, :, 1::2, 1::2], z[1, :, 0::2, 1::2]]))


@pytest.mark.parametrize("name", ["aps", "lps"])
def test_resnet_shortcuts_follow_their_main_branch(name):
    model = torchvision.models.resnet18(num_classes=10)
    swap_pooling(model, Pooling(name))
    assert share_shortcut_choice(model) == 3  # layer2..4's first blocks
    follower = model.layer2[0].downsample[0]
    leader = model.layer2[0].conv1.pool  # the swap puts the pool in front of the strided conv
    assert isinstance(follower.pool, PolyphasePool2d) and follower.pool._leader[0] is leader
    if name == "lps":
        assert follower.pool.get_logits is None
    model.train()(torch.randn(2, 3, 32, 32))
    assert torch.equal(follower.pool.last_choice, leader.last_choice)


# ---- PASA ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("softmax", ["joint", "group"])
def test_pasa_filters_are_non_negative_and_sum_to_one(softmax):
    pool = create_pool("pasa", 16, group=4, softmax=softmax)
    x = torch.randn(2, 16, 9, 8)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    for mode in (pool.train(), pool.eval()):
        weights = mode.filters(padded)
        assert weights.shape == (2, 4, 9, 5 * 4) and (weights >= 0).all()
        sums = weights.sum(dim=(1, 2)) if softmax == "joint" else weights.sum(dim=2)
        torch.testing.assert_close(sums, torch.ones_like(sums))


def test_pasa_is_the_weighted_sum_of_each_kept_window():
    """Output (n, c, i, j) = sum over the 3 x 3 reflect-padded window at (2i, 2j) of that location's filter of
    channel c's group, computed here by explicit loops."""
    pool = create_pool("pasa", 4, group=2).eval().double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    weights = pool.filters(padded)  # (1, 2, 9, 3 * 3)
    y = pool(x)
    for c in range(4):
        for i in range(3):
            for j in range(3):
                window = padded[0, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].reshape(9)
                expected = (window * weights[0, c // 2, :, i * 3 + j]).sum()
                torch.testing.assert_close(y[0, c, i, j], expected)


def test_pasa_eval_at_stride_equals_full_resolution_then_subsample():
    pool = create_pool("pasa", 8, group=2)
    pool.bn.running_mean.normal_()
    pool.bn.running_var.uniform_(0.5, 2)
    pool.eval()
    x = torch.randn(2, 8, 11, 10)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    full = torch.softmax(pool.bn(pool.conv(padded)), dim=1)[:, :, ::2, ::2].reshape(2, 2, 9, -1)
    torch.testing.assert_close(pool.filters(padded), full)


def test_pasa_errors_name_the_fix():
    with pytest.raises(UsageError, match="group=3 must divide the 8 channels"):
        create_pool("pasa", 8, group=3)
    with pytest.raises(UsageError, match="odd"):
        create_pool("pasa", 8, kernel_size=4)
    assert create_pool("pasa", 12).group == 4  # gcd(8, 12)


# ---- all of them -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_swap_on_resnet18_gives_logits(name):
    """`--pool` on torchvision's ResNet-18 (training each pool in a zoo model: tests/test_train.py)."""
    model = torchvision.models.resnet18(num_classes=7)
    swap_pooling(model, Pooling(name), input_size=64)
    share_shortcut_choice(model)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 33, 33))
    assert out.shape == (1, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NEW)
def test_keeps_float64_and_meta_device(name):
    pool = create_pool(name, 8).double()
    assert pool(torch.randn(1, 8, 12, 11, dtype=torch.float64)).dtype == torch.float64
    meta = create_pool(name, 8).to("meta")
    assert meta(torch.empty(1, 8, 12, 12, device="meta")).device.type == "meta"
