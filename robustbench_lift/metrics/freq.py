"""Fourier heat-map cells (suite `freq`): their names and the heat-map aggregates, pure NumPy.

A cell `fourier_<u>_<v>` (severity 0) holds the predictions under the basis image of the signed frequency offset
`(u, v)` from DC (`corruptions.fourier`); it stands for its conjugate partner `-(u, v)` too (the same image).
`HIGH_FREQUENCY` = 1/4 cycle per pixel: a frequency is "high" when `max(|u| / H, |v| / W) >= 1/4`, the band that
2x down-sampling folds back (the Nyquist frequency of the half-resolution grid), so `freq_high_err` is the error
where a stride-2 pooling that does not low-pass first aliases.
"""

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


def heat_map(values: dict[tuple[int, int], float]) -> tuple[np.ndarray, int, int]:
    """`(map, u0, v0)`: the cells' values at their offsets `(u, v)` and mirrored through DC at `(-u, -v)` (the same
    basis image), `map[u - u0, v - v0]`, on the smallest grid holding both; NaN where no cell is (offsets off a
    coarser `freq_step` grid). An even side's Nyquist row `-H/2` also shows mirrored at `+H/2`."""
    points = {**{(-u, -v): x for (u, v), x in values.items()}, **values}
    us, vs = [u for u, _ in points], [v for _, v in points]
    u0, v0 = min(us), min(vs)
    grid = np.full((max(us) - u0 + 1, max(vs) - v0 + 1), np.nan)
    for (u, v), x in points.items():
        grid[u - u0, v - v0] = x
    return grid, u0, v0
