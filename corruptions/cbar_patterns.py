"""ImageNet-C-bar's pattern corruptions (`corruptions.cbar`): single_frequency_greyscale, cocentric_sine_waves,
plasma_noise, checkerboard_cutout, sparkles and inverse_sparkles.

Reimplemented from `imagenet_c_bar/corrupt.py` of facebookresearch/augmentation-corruption (commit
ba4d5a5e9132fe98fcd4be1ac90abedbbb188794). `sample_<name>(generator, (H, W), level)` draws the parameters of
the reference's `sample_parameters` (in its units: pixels, radians, 8-bit intensities; `side` = the shorter side
stands for `im_size`); the arrays the reference draws from a `seed` (ray lengths, the checkerboard's cells) are
drawn directly. `render_<name>(image, **parameters)` maps a float `(3, H, W)` image in [0, 1] to the unclipped
result in [0, 1] units (the caller clips and truncates to 8 bits, as the reference's `clip(...).astype(uint8)`).
Pixel `(y, x)` is row y, column x, as the reference's `[[... for x] for y]` arrays.
"""

import math

import torch
from torch import Tensor

# `sparkles`: 5 stars at uniform centres; radius `level / 10 * 0.1 * side`; 50-199 rays each whose lengths are
# `max(1, radius * (1 + 0.25 N(0, 1)))`; `amount` 50 sets the falloff exponent `(100 - amount) / 50`.
SPARKLES = 5
SPARKLE_RADIUS = 0.1
SPARKLE_AMOUNT = 50.0
RAYS = (50, 200)
RAY_RANDOMNESS = 0.25
# `inverse_sparkles`: one star, centre uniform in the middle half of each axis, radius `0.25 * side`, amount
# `100 - level / 10 * 65`: the image shows through the star, white elsewhere.
INVERSE_SPARKLE_RADIUS = 0.25
INVERSE_SPARKLE_AMOUNT = 65.0
# `plasma_noise`: 4-6 iterations, sharpness U(0.5, 1), scale U(0.075, 0.2) * side, intensity `level / 10 * 64`.
PLASMA_ITERATIONS = (4, 7)
# `checkerboard_cutout`: square cells of side U(0.1, 0.25) * side (at least 1 px), a fraction `level / 10` of
# the cells on one colour of the board set to grey 128.
CUTOUT_GREY = 128 / 255


def pixel_grid(size: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor]:
    """float32 row and column indices `(H, W)` of every pixel."""
    ys = torch.arange(size[0], device=device, dtype=torch.float32)
    xs = torch.arange(size[1], device=device, dtype=torch.float32)
    return torch.meshgrid(ys, xs, indexing="ij")


def _uniform(generator: torch.Generator, n: int) -> list[float]:
    return torch.rand(n, generator=generator, dtype=torch.float64).tolist()


def sample_single_frequency_greyscale(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """A plane wave: |frequency| U(-pi, pi) on one axis and U(-|f|, |f|) on the other (which axis, at random),
    phase U(0, 2 pi), amplitude `level / 10 * 196` levels."""
    magnitude, other, swap, phase = _uniform(generator, 4)
    magnitude = math.pi * (2 * magnitude - 1)
    freq = (magnitude, abs(magnitude) * (2 * other - 1))
    return {"freq": freq[::-1] if swap < 0.5 else freq, "phase": 2 * math.pi * phase, "intensity": level * 19.6}


def render_single_frequency_greyscale(image: Tensor, freq: tuple[float, float], phase: float,
                                      intensity: float) -> Tensor:
    """`x + intensity * sin(freq[0] * column + freq[1] * row + phase)`, the same on every channel."""
    ys, xs = pixel_grid(image.shape[-2:], image.device)
    return image + intensity / 255 * torch.sin(xs * freq[0] + ys * freq[1] + phase)


def sample_cocentric_sine_waves(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Centre uniform over the image, angular frequency U(0, 10), wobble amplitude and ring width U(0, side / 10),
    intensity `level / 10 * 128` levels on each channel."""
    x0, y0, freq, amplitude, width = _uniform(generator, 5)
    side = min(size)
    return {"offset": (x0 * size[1], y0 * size[0]), "freq": 10 * freq, "amplitude": amplitude * side / 10,
            "ring_width": width * side / 10, "intensity": (level * 12.8,) * 3}


def render_cocentric_sine_waves(image: Tensor, offset: tuple[float, float], freq: float, amplitude: float,
                                ring_width: float, intensity: tuple[float, float, float]) -> Tensor:
    """Rings: `x + intensity_c * (((r + amplitude * sin(freq * atan2(dx, dy))) mod ring_width) / ring_width - 1/2)`,
    `(dx, dy)` the offset of the pixel from the centre (column, row) and `r` its length."""
    ys, xs = pixel_grid(image.shape[-2:], image.device)
    dx, dy = xs - offset[0], ys - offset[1]
    wobble = torch.sin(torch.atan2(dx, dy) * freq) * amplitude
    rings = torch.remainder(torch.sqrt(dx**2 + dy**2) + wobble, ring_width) / ring_width - 0.5
    return image + torch.tensor(intensity, device=image.device)[:, None, None] / 255 * rings


def sample_plasma_noise(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Time U(0, 6 pi), 4-6 iterations, sharpness U(0.5, 1), scale U(0.075, 0.2) * side, intensity
    `level / 10 * 64` levels."""
    time, sharpness, scale = _uniform(generator, 3)
    iterations = int(torch.randint(*PLASMA_ITERATIONS, (), generator=generator))
    return {"time": 6 * math.pi * time, "iterations": iterations, "sharpness": 0.5 + 0.5 * sharpness,
            "scale": (0.075 + 0.125 * scale) * min(size), "intensity": level * 6.4}


def render_plasma_noise(image: Tensor, time: float, iterations: int, sharpness: float, scale: float,
                        intensity: float) -> Tensor:
    """`(1 - a) x + a * plasma`, `a = intensity / 255`: the reference's iterated map, which advects each pixel's
    scaled position by `(cos(y i0 + t / i1), sin(x i0 + t / i1)) / i2` rotated by atan(0.3), the factors
    `i` growing by (1.93, 1.15, 2.25 - sharpness) per iteration; colour (sin(x - t), sin((x + y + sin t) / 2),
    sin(y + t)). (The reference's fourth factor starts at 0 and is only ever multiplied: it stays 0.)"""
    ys, xs = pixel_grid(image.shape[-2:], image.device)
    x, y = xs / scale, ys / scale
    i0, i1, i2 = 1.0, 1.0, 1.0
    for _ in range(iterations):
        r0 = torch.cos(y * i0 + time / i1) / i2
        r1 = torch.sin(x * i0 + time / i1) / i2
        x, y = x + r0 - 0.3 * r1, y + r1 + 0.3 * r0
        i0, i1, i2 = i0 * 1.93, i1 * 1.15, i2 * (2.25 - sharpness)
    plasma = torch.stack([torch.sin(x - time), torch.sin((x + y + math.sin(time)) * 0.5), torch.sin(y + time)])
    alpha = intensity / 255
    return (1 - alpha) * image + alpha * plasma


def sample_checkerboard_cutout(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Board angle U(0, 2 pi), cell side `max(U(0.1, 0.25) * side, 1)`, a uniform draw per cell of a `(G, G)`
    grid, `G = 4 * longest side // cell` (the reference: `im_size`), and the fraction `level / 10` of cells cut."""
    angle, scale = _uniform(generator, 2)
    scale = max((0.1 + 0.15 * scale) * min(size), 1.0)
    cells = int(4 * max(size) // scale)
    return {"angle": 2 * math.pi * angle, "scale": scale, "fraction": level / 10,
            "cells": torch.rand(cells, cells, generator=generator, dtype=torch.float64)}


def render_checkerboard_cutout(image: Tensor, angle: float, scale: float, fraction: float, cells: Tensor) -> Tensor:
    """Pixel (y, x) has board coordinates `u = (cos a y + sin a x) / scale`, `v = (-sin a y + cos a x) / scale`;
    it turns grey (128) where `floor(u mod 2) == floor(v mod 2)` and `cells[trunc u, trunc v] < fraction`
    (indices modulo the grid size, as the reference's negative indices wrap)."""
    ys, xs = pixel_grid(image.shape[-2:], image.device)
    u = (math.cos(angle) * ys + math.sin(angle) * xs) / scale
    v = (-math.sin(angle) * ys + math.cos(angle) * xs) / scale
    same_colour = torch.remainder(u, 2).floor() == torch.remainder(v, 2).floor()
    grid = (cells < fraction).to(image.device)
    cut = grid[u.trunc().long().remainder(grid.shape[0]), v.trunc().long().remainder(grid.shape[1])]
    return torch.where(same_colour & cut, CUTOUT_GREY, image)


def _star(size: tuple[int, int], center: Tensor, lengths: Tensor, exponent: float, device: torch.device) -> Tensor:
    """The reference's sparkle `kernel` weight `(H, W)` in [0, 1] of a star at `center` (row, column) with
    ray `lengths`: at angle index `d = (atan2(dx, dy) + pi) / (2 pi) * rays`, `f = frac(d)`, the ray length `L`
    interpolated between rays `floor(d)` and `floor(d) + 1` (cyclic), weight
    `clip((1 - (f - 1/2)^2) * (L^2 / (r^2 + 1e-4))^exponent, 0, 1)`, `r` the distance to the centre."""
    ys, xs = pixel_grid(size, device)
    dy, dx = ys - float(center[0]), xs - float(center[1])
    rays = lengths.shape[0]
    d = (torch.atan2(dx, dy) + math.pi) / (2 * math.pi) * rays
    index = d.floor()
    f = d - index
    lengths = lengths.to(device=device, dtype=torch.float32)
    first = lengths[index.long().remainder(rays)]
    length = first + f * (lengths[(index.long() + 1).remainder(rays)] - first)
    falloff = (length**2 / (dy**2 + dx**2 + 1e-4)) ** exponent
    return ((1 - (f - 0.5) ** 2) * falloff).clamp(0, 1)


def _ray_noise(generator: torch.Generator) -> Tensor:
    """One N(0, 1) draw per ray of a star with 50-199 rays (float64)."""
    rays = int(torch.randint(*RAYS, (), generator=generator))
    return torch.randn(rays, generator=generator, dtype=torch.float64)


def _ray_lengths(radius: float, noise: Tensor) -> Tensor:
    return radius + RAY_RANDOMNESS * radius * noise


def sample_sparkles(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """`SPARKLES` stars: centres (row, column) uniform over the image, radius `level / 10 * 0.1 * side`, and
    each star's ray noise."""
    centers = torch.rand(SPARKLES, 2, generator=generator, dtype=torch.float64) * torch.tensor(size)
    return {"centers": centers, "ray_noise": [_ray_noise(generator) for _ in range(SPARKLES)],
            "radius": level / 10 * SPARKLE_RADIUS * min(size)}


def render_sparkles(image: Tensor, centers: Tensor, ray_noise: list[Tensor], radius: float) -> Tensor:
    """Each star in turn blends the image towards white by its weight (`_star`, ray lengths at least 1 px):
    `x + w (1 - x)`."""
    for center, noise in zip(centers, ray_noise):
        lengths = _ray_lengths(radius, noise).clamp_min(1)
        weight = _star(image.shape[-2:], center, lengths, (100 - SPARKLE_AMOUNT) / 50, image.device)
        image = image + weight * (1 - image)
    return image


def sample_inverse_sparkles(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """One star: centre uniform in the middle half of each axis, its ray noise, radius `0.25 * side`, amount
    `100 - level / 10 * 65`."""
    center = (0.25 + 0.5 * torch.rand(2, generator=generator, dtype=torch.float64)) * torch.tensor(size)
    return {"center": center, "ray_noise": _ray_noise(generator), "radius": INVERSE_SPARKLE_RADIUS * min(size),
            "amount": 100 - level / 10 * INVERSE_SPARKLE_AMOUNT}


def render_inverse_sparkles(image: Tensor, center: Tensor, ray_noise: Tensor, radius: float, amount: float
                            ) -> Tensor:
    """White except through the star: `1 + w (x - 1)`, `w` the star's weight with exponent `(100 - amount) / 50`."""
    weight = _star(image.shape[-2:], center, _ray_lengths(radius, ray_noise), (100 - amount) / 50, image.device)
    return 1 + weight * (image - 1)
