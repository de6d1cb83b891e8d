"""The fast formulations of FLC/ASAP (two matrix products), PASA (a loop over the filter taps) and LPS (one
backward pass for circular padding) against the operations they replace, written here independently: torch.fft
with fftshift and a crop, F.unfold, F.pad then a convolution per component. Odd and even sides, float32 and
float64, training and evaluation, gradients."""

import pytest
import torch
import torch.nn.functional as F

from robustbench_lift.pooling import create_pool
from robustbench_lift.pooling.pasa import TapSum
from robustbench_lift.pooling.polyphase import circular_pad

SIZES = [(8, 12), (7, 9), (14, 5), (1, 2)]


def _fft_lowcut(x: torch.Tensor, window: bool, norm: str, band: str) -> torch.Tensor:
    """The spectral definition: (pad one zero row and column,) fftshift-ed fft2, (sqrt-Hamming window,) the
    centred band, ifftshift, ifft2, real part."""
    out = [(side + 1) // 2 for side in x.shape[-2:]]
    if window:
        x = F.pad(x, (0, 1, 0, 1))
    spectrum = torch.fft.fftshift(torch.fft.fft2(x, norm=norm), dim=(-2, -1))
    for axis, (n, m) in enumerate(zip(x.shape[-2:], out)):
        if window:
            shape = [1] * spectrum.dim()
            shape[spectrum.dim() - 2 + axis] = n
            hamming = torch.hamming_window(n, periodic=False, dtype=torch.float64)
            spectrum = spectrum * hamming.abs().sqrt().view(shape).to(x.dtype)
        start, stop = (n // 4, 3 * n // 4) if band == "code" else (n // 2 - m // 2, n // 2 - m // 2 + m)
        spectrum = spectrum.narrow(spectrum.dim() - 2 + axis, start, stop - start)
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1)), norm=norm).real


@pytest.mark.parametrize("name", ["flc", "asap"])
@pytest.mark.parametrize("band", ["half", "code"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_frequency_pools_equal_the_fft_definition(name, band, dtype):
    for norm in ("forward", "backward"):
        pool = create_pool(name, 3, norm=norm, band=band)
        for height, width in SIZES if band == "half" else SIZES[:-1]:  # their crop keeps nothing of 1 sample
            x = torch.randn(2, 3, height, width, dtype=dtype)
            expected = _fft_lowcut(x, name == "asap", norm, band)
            torch.testing.assert_close(pool(x), expected, atol=1e-5 if dtype == torch.float32 else 1e-12, rtol=1e-5)
            with torch.inference_mode():
                torch.testing.assert_close(pool(x), expected, atol=1e-5 if dtype == torch.float32 else 1e-12,
                                           rtol=1e-5)


@pytest.mark.parametrize("name", ["flc", "asap"])
def test_frequency_pool_gradients_after_inference_mode(name):
    """gradcheck of the matrix products, and their gradient equals the FFT definition's; the cached matrices
    first built under inference_mode still serve a backward afterwards."""
    pool = create_pool(name, 2)
    with torch.inference_mode():
        pool(torch.randn(1, 2, 6, 5, dtype=torch.float64))
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x,))
    weights = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    ours = torch.autograd.grad((pool(x) * weights).sum(), x)[0]
    expected = torch.autograd.grad((_fft_lowcut(x, name == "asap", "forward", "half") * weights).sum(), x)[0]
    torch.testing.assert_close(ours, expected)


def _unfold_pasa(pool, x: torch.Tensor) -> torch.Tensor:
    """PASA by im2col: every kept k x k window times its location's filter of the channel's group."""
    n, c, height, width = x.shape
    k, group = pool.kernel_size, pool.group
    padded = F.pad(x, (k // 2,) * 4, mode="reflect")
    weights = pool.filters(padded)
    patches = F.unfold(padded, k, stride=pool.stride).view(n, group, c // group, k * k, -1)
    out = (patches * weights.unsqueeze(2)).sum(dim=3)
    return out.view(n, c, (height - 1) // pool.stride + 1, (width - 1) // pool.stride + 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kernel_size, stride, softmax", [(3, 2, "joint"), (5, 2, "group"), (3, 3, "joint")])
def test_pasa_equals_the_unfold_computation_with_gradients(dtype, kernel_size, stride, softmax):
    pool = create_pool("pasa", 8, kernel_size=kernel_size, group=4, stride=stride, softmax=softmax).to(dtype)
    for training in (True, False):
        pool.train(training)
        for height, width in [(8, 12), (7, 9), (6, 5)]:
            x = torch.randn(2, 8, height, width, dtype=dtype, requires_grad=True)
            ours, expected = pool(x), _unfold_pasa(pool, x)
            torch.testing.assert_close(ours, expected)
            weights = torch.randn_like(ours)
            inputs = (x, pool.conv.weight, pool.bn.weight)
            torch.testing.assert_close(torch.autograd.grad((ours * weights).sum(), inputs),
                                       torch.autograd.grad((expected * weights).sum(), inputs))
    with torch.inference_mode():
        torch.testing.assert_close(pool(x), _unfold_pasa(pool, x))


def test_pasa_tap_sum_gradcheck():
    grouped = torch.randn(1, 2, 2, 5, 6, dtype=torch.float64, requires_grad=True)  # padded 3 x 4 input
    weights = torch.rand(1, 2, 9, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda g, w: TapSum.apply(g, w, 2), (grouped, weights))


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (0, 1, 0, 1), (1, 2, 1, 2), (3, 3, 0, 2)])
@pytest.mark.parametrize("height, width", [(4, 6), (3, 3), (5, 4)])
def test_circular_pad_is_f_pad_with_gradients(padding, height, width):
    x = torch.randn(2, 3, height, width, dtype=torch.float64, requires_grad=True)
    ours, expected = circular_pad(x, padding), F.pad(x, padding, mode="circular")
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    weights = torch.randn_like(ours)
    torch.testing.assert_close(torch.autograd.grad((ours * weights).sum(), x),
                               torch.autograd.grad((expected * weights).sum(), x))
    assert torch.autograd.gradcheck(lambda t: circular_pad(t, padding), (x,))


def _reference_lps(pool, x: torch.Tensor, seed: int) -> torch.Tensor:
    """LPS by per-component slicing: F.pad's circular mode for the blur, the convolution modules' own circular
    padding, Gumbel-softmax weights from `seed`, the weighted sum of the components (training) or the argmax
    component (evaluation)."""
    if pool.filter_size > 1:
        x = F.conv2d(F.pad(x, pool.padding, mode="circular"), pool.filt.to(x.dtype), groups=x.shape[1])
    x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
    components = [x[..., r::2, c::2] for r in (0, 1) for c in (0, 1)]
    net = pool.get_logits
    logits = torch.stack([net.conv2(net.relu(net.conv1(c))).mean((1, 2, 3)) for c in components], dim=1)
    if not pool.training:
        return torch.stack([components[k][n] for n, k in enumerate(logits.argmax(1).tolist())])
    torch.manual_seed(seed)
    weights = F.gumbel_softmax(logits, tau=float(pool.gumbel_tau))
    return sum(w[:, None, None, None] * c for w, c in zip(weights.t(), components))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("filter_size", [1, 3])
def test_lps_equals_the_sliced_computation_with_gradients(dtype, filter_size):
    pool = create_pool("lps", 4, filter_size=filter_size, hidden=3).to(dtype)
    pool.gumbel_tau.fill_(0.7)
    for training in (True, False):
        pool.train(training)
        for height, width in [(8, 6), (7, 9)]:
            x = torch.randn(3, 4, height, width, dtype=dtype, requires_grad=True)
            torch.manual_seed(5)
            ours = pool(x)
            expected = _reference_lps(pool, x, 5)
            torch.testing.assert_close(ours, expected)
            weights = torch.randn_like(ours)
            inputs = (x, pool.get_logits.conv1.weight) if training else (x,)
            torch.testing.assert_close(torch.autograd.grad((ours * weights).sum(), inputs),
                                       torch.autograd.grad((expected * weights).sum(), inputs))


@pytest.mark.parametrize("name, options", [("flc", {}), ("asap", {}), ("pasa", {}), ("lps", {"filter_size": 3}),
                                           ("aps", {"filter_size": 3})])
def test_channels_last_inputs_give_the_same_values_and_gradients(name, options):
    """The model benchmarks (and many training scripts) run channels_last; the reformulations reshape and slice."""
    pool = create_pool(name, 8, **options).double().train()
    x = torch.randn(2, 8, 10, 7, dtype=torch.float64)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.to(memory_format=layout).requires_grad_()
        torch.manual_seed(0)
        y = pool(xl)
        results.append((y, torch.autograd.grad((y * torch.arange(y.numel()).view_as(y)).sum(), xl)[0]))
    torch.testing.assert_close(results[0], results[1])
