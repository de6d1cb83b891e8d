"""The pooling registry: every pool's shapes and dtypes, BlurPool parity, Haar closed form, errors, CLI."""

import subprocess
import sys

import antialiased_cnns
import pytest
import torch
from click.testing import CliRunner

from robustbench_lift.cli import cli
from robustbench_lift.errors import UsageError
from robustbench_lift.pooling import (
    BlurPool2d,
    HaarPool2d,
    create_pool,
    haar_decompose,
    haar_reconstruct,
    list_pools,
)

EXPECTED_POOLS = {"max", "avg", "skip", "blur", "haar", "lift", "aps", "lps", "flc", "asap", "pasa", "dwt"}


def test_registry_lists_the_family():
    assert set(list_pools()) == EXPECTED_POOLS


def test_listing_order_does_not_depend_on_the_first_layer_imported():
    """The pooling files register on first use: a program that imports LiftPool's layer first (as the zoo does)
    lists the poolings in the same order as one that asks the registry first."""
    code = "from robustbench_lift.pooling import {}; import robustbench_lift.pooling as p; print(p.list_pools())"
    listings = {subprocess.run([sys.executable, "-c", code.format(name)], capture_output=True, text=True,
                               check=True).stdout for name in ("list_pools", "LiftDownPool2d", "PASAPool2d")}
    assert len(listings) == 1 and listings.pop().startswith("['max', 'avg', 'skip', 'blur', 'haar', 'lift'")


@pytest.mark.parametrize("name", sorted(EXPECTED_POOLS))
@pytest.mark.parametrize("size", [8, 9, 32, 33])
def test_every_pool_halves_and_keeps_dtype(name, size):
    pool = create_pool(name, 6)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 6, size, size + 2, dtype=dtype)
        y = pool.to(dtype)(x)
        assert y.dtype == dtype
        expected = tuple(_halved(name, s) for s in (size, size + 2))
        assert y.shape == (2, 6, *expected)


def _halved(name: str, side: int) -> int:
    """Output side of pooling `name`, by the published code where one is reproduced (docs/poolings.md)."""
    if name in ("max", "avg", "dwt"):  # kernel-2 windows drop a trailing odd row/column; WaveCNet's floor(n/2)
        return side // 2
    return (side + 1) // 2


@pytest.mark.parametrize("name", sorted(EXPECTED_POOLS))
def test_every_pool_runs_under_autocast(name):
    pool = create_pool(name, 4)
    x = torch.randn(2, 4, 16, 16)
    torch.manual_seed(0)  # lps draws Gumbel noise in training: the same draw for both calls
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = pool(x)
    assert torch.isfinite(y.float()).all()
    torch.manual_seed(0)
    torch.testing.assert_close(y.float(), pool(x), rtol=0.05, atol=0.1)


def test_resnet_stem_max_form():
    pool = create_pool("max", 3, kernel_size=3, stride=2, padding=1)
    x = torch.randn(1, 3, 112, 112)
    torch.testing.assert_close(pool(x), torch.nn.functional.max_pool2d(x, 3, 2, 1))


@pytest.mark.parametrize("filter_size", range(1, 8))
@pytest.mark.parametrize("pad_type", ["reflect", "replicate", "zero"])
def test_blur_matches_antialiased_cnns(filter_size, pad_type):
    ours = BlurPool2d(5, filter_size=filter_size, pad_type=pad_type)
    theirs = antialiased_cnns.BlurPool(5, pad_type=pad_type, filt_size=filter_size)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for size in [(8, 8), (9, 13), (32, 31)]:
        x = torch.randn(2, 5, *size)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.filt, theirs.filt, rtol=0, atol=0)


@pytest.mark.parametrize("stride,pad_off", [(1, 0), (3, 0), (2, 1)])
def test_blur_matches_antialiased_cnns_other_strides(stride, pad_off):
    ours = BlurPool2d(3, filter_size=3, stride=stride, pad_off=pad_off)
    theirs = antialiased_cnns.BlurPool(3, filt_size=3, stride=stride, pad_off=pad_off)
    x = torch.randn(1, 3, 17, 16)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_haar_closed_form_and_inverse():
    x = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]  # top-left, top-right of each 2x2 block
    c, e = x[..., 1::2, 0::2], x[..., 1::2, 1::2]  # bottom-left, bottom-right
    bands = haar_decompose(x)
    torch.testing.assert_close(bands.ll, (a + b + c + e) / 4)
    torch.testing.assert_close(bands.lh, (c + e - a - b) / 2)
    torch.testing.assert_close(bands.hl, (b - a + e - c) / 2)
    torch.testing.assert_close(bands.hh, e - c - b + a)
    torch.testing.assert_close(HaarPool2d()(x), torch.nn.functional.avg_pool2d(x, 2))
    torch.testing.assert_close(HaarPool2d("all")(x), bands.ll + bands.lh + bands.hl + bands.hh)
    for size in [(10, 12), (7, 5), (2, 3)]:
        y = torch.randn(1, 2, *size, dtype=torch.float64)
        assert (haar_reconstruct(haar_decompose(y)) - y).abs().max() < 1e-12


def test_lift_parameter_count():
    pool = create_pool("lift", 64, kernel_size=3)
    assert sum(p.numel() for p in pool.parameters()) == 2 * (64 * 3 + 64)


def test_unknown_pool_and_option_errors():
    with pytest.raises(UsageError, match="did you mean blur"):
        create_pool("blurr", 8)
    with pytest.raises(UsageError, match=r"unknown option\(s\) \['filter_size'\].*kernel_size"):
        create_pool("lift", 8, filter_size=3)
    with pytest.raises(UsageError, match="1..7"):
        create_pool("blur", 8, filter_size=9)


def test_cli_pools_lists_each_pool_with_its_parameters():
    result = CliRunner().invoke(cli, ["pools"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:]}
    assert set(lines) == EXPECTED_POOLS
    assert lines["lift"] == f"{2 * (64 * 5 + 64):,}" and lines["blur"] == "0"
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and "liftbench" in version.output
