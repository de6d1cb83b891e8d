"""Fourier heat-map cells (suite `freq`): their names and the heat-map aggregates, pure NumPy.

A cell `fourier_<u>_<v>` (severity 0) holds the predictions under the basis image of the signed frequency offset
`(u, v)` from DC (`corruptions.fourier`); it stands for its conjugate partner `-(u, v)` too (the same image).
`HIGH_FREQUENCY` = 1/4 cycle per pixel: a frequency is "high" when `max(|u| / H, |v| / W) >= 1/4`, the band that
2x down-sampling folds back (the Nyquist frequency of the half-resolution grid), so `freq_high_err` is the error
where a stride-2 pooling that does not low-pass first aliases.
"""

import math
import re

import numpy as np

PREFIX = "fourier"
HIGH_FREQUENCY = 0.25
"""Cycles per pixel from which a frequency counts as high: the Nyquist frequency after 2x down-sampling."""
_NAME = re.compile(rf"^{PREFIX}_(-?\d+)_(-?\d+)$")


def cell_name(offset: tuple[int, int]) -> str:
    """`fourier_<u>_<v>`, e.g. `fourier_-3_5`."""
    return f"{PREFIX}_{offset[0]}_{offset[1]}"


def parse_cell(name: str) -> tuple[int, int] | None:
    """The offset `(u, v)` of a heat-map cell name, None for another cell (e.g. clean)."""
    match = _NAME.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_high(offset: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether `offset` of an `(H, W)` spectrum is a high frequency: `max(|u| / H, |v| / W) >= HIGH_FREQUENCY`."""
    return max(abs(offset[0]) / size[0], abs(offset[1]) / size[1]) >= HIGH_FREQUENCY


def heat_map(values: dict[tuple[int, int], float], size: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, int, int, int]:
    """`(map, u0, v0, step)`: the cells' values at their offsets `(u, v)`, at `(-u, -v)` (the same basis image) and,
    given the spectrum's `size` `(H, W)`, at the partner wrapped into it (an even side's Nyquist row `-H/2` is its
    own row's mirror), `map[(u - u0) // step, (v - v0) // step]` on the smallest grid of spacing `step` (the
    offsets' greatest common divisor: a `freq_step` grid) holding them; NaN where no cell is."""
    points = dict(values)
    for (u, v), x in values.items():
        points.setdefault((-u, -v), x)
        if size is not None:
            points.setdefault(tuple(((-o + n // 2) % n) - n // 2 for o, n in zip((u, v), size)), x)
    us, vs = [u for u, _ in points], [v for _, v in points]
    step = math.gcd(*us, *vs) or 1
    u0, v0 = min(us), min(vs)
    grid = np.full(((max(us) - u0) // step + 1, (max(vs) - v0) // step + 1), np.nan)
    for (u, v), x in points.items():
        grid[(u - u0) // step, (v - v0) // step] = x
    return grid, u0, v0, step
