"""Aliasing of a 2x down-sampling written as a stride-1 map `y` followed by decimation `y[..., ::2, ::2]`
(Ribeiro & Schoen, "How convolutional neural networks deal with aliasing", ICASSP 2021;
antonior92/aliasing-in-cnns, `quantifying-aliasing/spectral_analyse.py`). Pure functions of tensors.

Decimating an even side n folds the n-point DFT: the n/2-point DFT of `y[::2]` at bin k is
`(Y(k) + Y(k + n/2)) / 2`. Per side, the output band is the signed frequencies f (numpy's `fftfreq(n) * n`,
in [-n/2, n/2)) with `|f| <= n/4`, the frequencies the decimated map represents as themselves (closed: the two
bins +-n/4 of a real map carry one cosine at the output's Nyquist frequency, which decimation keeps); every
other frequency folds onto one of them. Two measures (docs/aliasing.md):

- `aliased_share`: the share of `y`'s spectral energy outside the output band in either direction (so folded into
  it), DC excluded (it never aliases; post-ReLU maps would otherwise measure their mean). White noise:
  `(n^2 - (n/2 + 1)^2) / (n^2 - 1)` in expectation on an n x n map, 3/4 as n grows; an ideal low-pass to the
  band (FLC): 0.
- `bin_classes`: the paper's per-bin classes. For each output bin, each of the four folds "passes" when its energy
  is above the maximum energy of the decimated spectrum minus `passing_db` (their `--threshold_type max
  --passing_content 20`); a bin is tangled (more than one fold passes), non-aliased (only its in-band fold),
  aliased (only one fold, not the in-band one) or no-pass (none). Theirs zero-pads the map to 2n before the DFT
  (finer bins); here the n-point DFT, whose folding is the exact identity above. Their `nopass` line omits the
  aliased bins by a typo (`~nonaliased & ~tangled & ~nonaliased`); their plots take `1 - the others`, as here.

Odd sides use their first n - 1 rows / columns (the folding identity needs an even side).
"""

import torch
from torch import Tensor

CLASSES = ("nonaliased", "aliased", "tangled", "nopass")
"""Ribeiro & Schoen's per-bin classes, in the order `bin_classes` returns them."""
PASSING_DB = 20.0
"""Their default `--passing_content`: a fold passes within 20 dB of the decimated spectrum's maximum."""


def _even(y: Tensor) -> Tensor:
    if y.ndim != 4:
        raise ValueError(f"expected a stride-1 map (N, C, H, W), got shape {tuple(y.shape)}")
    height, width = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    if not height or not width:
        raise ValueError(f"a map of {y.shape[-2]}x{y.shape[-1]} has nothing to decimate")
    return y[..., :height, :width]


def signed_bins(n: int, device: torch.device | str = "cpu") -> Tensor:
    """Signed frequency of each bin of an n-point DFT, in [-n/2, n/2) (numpy's `fftfreq(n) * n`)."""
    bins = torch.arange(n, device=device)
    return torch.where(bins < (n + 1) // 2, bins, bins - n)


def in_band(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """bool `(height, width)`: the bins of the output band, `|f| <= n/4` on both sides."""
    rows, cols = signed_bins(height, device), signed_bins(width, device)
    return (4 * rows.abs() <= height)[:, None] & (4 * cols.abs() <= width)[None]


def aliased_share(y: Tensor) -> Tensor:
    """`(N,)` share of the spectral energy of the stride-1 map `y` `(N, C, H, W)` outside the output band (summed
    over channels, DC excluded): what decimation folds into the band. NaN for a map without AC energy."""
    y = _even(y).double()
    power = torch.fft.fft2(y - y.mean(dim=(-2, -1), keepdim=True)).abs().square().sum(dim=1)
    total = power.sum(dim=(-2, -1))
    outside = power.masked_fill(in_band(*power.shape[-2:], y.device), 0).sum(dim=(-2, -1))
    return torch.where(total > 0, outside / total, torch.nan).float()


def folds(y: Tensor) -> Tensor:
    """`(N, C, 2, 2, H/2, W/2)` complex: fold `(a, b)` at output bin `(k, l)` is `Y(k + a H/2, l + b W/2)`, Y the
    DFT of `y` (even sides); `folds(y).mean((2, 3))` is the DFT of `y[..., ::2, ::2]`."""
    y = _even(y)
    n, c, height, width = y.shape
    spectrum = torch.fft.fft2(y.double())
    return spectrum.view(n, c, 2, height // 2, 2, width // 2).transpose(3, 4)


def in_band_fold(height: int, width: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """For each output bin of a `(height, width)` map (even sides), the row and column fold (0 or 1) that owns
    it as its own frequency: fold 0 below n/4, fold 1 from n/4 on (signed frequencies in [-n/4, n/4), their
    code's segments; at the output's Nyquist bin the other fold is the same real cosine). `(H/2,)`, `(W/2,)`."""
    rows = (4 * torch.arange(height // 2, device=device) >= height).long()
    cols = (4 * torch.arange(width // 2, device=device) >= width).long()
    return rows, cols


def bin_classes(y: Tensor, passing_db: float = PASSING_DB) -> Tensor:
    """`(N, 4)` fractions of output bins (over channels and bins) in `CLASSES` order, for the stride-1 map `y`
    `(N, C, H, W)`: the paper's classification (module doc); a channel without energy counts as no-pass."""
    folded = folds(y)
    energy = folded.abs().square()  # (N, C, 2, 2, h, w)
    decimated = folded.mean(dim=(2, 3)).abs().square()
    threshold = decimated.amax(dim=(-2, -1), keepdim=True)[:, :, None, None] * 10 ** (-passing_db / 10)
    passing = energy > threshold
    count = passing.sum(dim=(2, 3))
    h, w = energy.shape[-2:]
    rows, cols = in_band_fold(2 * h, 2 * w, y.device)
    row, col = torch.arange(h, device=y.device)[:, None], torch.arange(w, device=y.device)[None, :]
    own = passing[:, :, rows[:, None], cols[None, :], row, col]  # (N, C, h, w): bin (k, l)'s in-band fold passes
    classes = torch.stack([(count == 1) & own, (count == 1) & ~own, count > 1, count == 0], dim=-1)
    return classes.flatten(1, -2).double().mean(dim=1).float()


def response_aliased_share(kernel: Tensor, height: int, width: int) -> float:
    """Expected `aliased_share` of white noise filtered by the 2-D `kernel` `(kh, kw)` (circularly, on a
    `(height, width)` grid): `sum_outside |K|^2 / sum_(f != 0) |K|^2` from the kernel's frequency response K."""
    response = torch.fft.fft2(kernel.double(), s=(height, width)).abs().square()
    response[0, 0] = 0
    return (response.masked_fill(in_band(height, width), 0).sum() / response.sum()).item()
