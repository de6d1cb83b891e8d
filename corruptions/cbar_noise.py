"""ImageNet-C-bar's noise-field corruptions (`corruptions.cbar`): blue_noise_sample, brownish_noise,
perlin_noise and caustic_refraction.

Reimplemented from `imagenet_c_bar/corrupt.py`, `utils/perlin_noise.py` and `utils/image.py` of
facebookresearch/augmentation-corruption (commit ba4d5a5e9132fe98fcd4be1ac90abedbbb188794), with the conventions
of `corruptions.cbar_patterns`: `sample_<name>(generator, (H, W), level)` draws the reference's parameters (and
the arrays it draws from a `seed`), `render_<name>(image (3, H, W), **parameters)` returns the unclipped result
in [0, 1] units.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from corruptions._ops import gaussian_blur2d
from corruptions.cbar_patterns import pixel_grid

# Perlin noise (`utils/perlin_noise.py`, Perlin's reference noise): a 256-entry lattice of random unit
# gradients and a permutation; `perlin_noise` sums |noise| over octaves 1, 2, 4, 8, 16 (turbulence 16), scales
# positions by 1 / (32 * side / 224), maps `0.5 * t + 0.5` into [0, 1] and blends with alpha `level / 10 * 0.5`.
LATTICE = 256
OCTAVES = (1, 2, 4, 8, 16)
PERLIN_PERIOD = 32 / 224
# `caustic_refraction`: the caustic pattern's constants (2 pi as the reference writes it), then a refracting
# lens of index 4 whose normal follows the luma gradient of the caustics blurred with sigma 1; shifts up to
# `level / 10 * 0.5 * side` px, lighting `level / 10 * 2`.
CAUSTIC_TWO_PI = 6.28318530718
CAUSTIC_OFFSET = 250.0
CAUSTIC_INTENSITY = 0.005
CAUSTIC_STEPS = 5
ETA = 4.0
SOFTENING = 1.0
# `refract` leaves the ray straight when |cos(incidence)| >= 1 - 1e-3; refraction vectors are rounded to 3
# decimals (`np.round(v, 3)`).
STRAIGHT = 1 - 1e-3
DECIMALS = 1000


def _sample_phases(generator: torch.Generator, side: int) -> dict:
    """The reference's random phases of one `side x side` Fourier noise: `(side, side // 2)` U(0, 2 pi), and
    for odd `side` a centre column of `side // 2` more (else `None`)."""
    phases = 2 * math.pi * torch.rand(side, side // 2, generator=generator, dtype=torch.float64)
    centre = 2 * math.pi * torch.rand(side // 2, generator=generator, dtype=torch.float64) if side % 2 else None
    return {"phases": phases, "centre": centre}


def fourier_noise(phases: Tensor, centre: Tensor | None, power: Callable[[Tensor], Tensor],
                  size: tuple[int, int], device: torch.device) -> Tensor:
    """float32 `(H, W)` noise of unit standard deviation: the real part of the inverse DFT of
    `power(|k - side/2|) * exp(i phase)` on a square of `side = phases.shape[0]` (the reference's `im_size`),
    rolled by `side // 2` on both axes, divided by its standard deviation and cropped to its top-left `(H, W)`.

    The phases are the drawn half next to its point reflection (`phases[::-1, ::-1]`), with the centre column
    `(c, 0, c[::-1])` between them for odd sides. `|k|` is measured in cycles per shorter image side (pixel
    units of the square when it is the image itself).
    """
    side = phases.shape[0]
    middle = [torch.cat([centre, centre.new_zeros(1), centre.flip(0)])[:, None]] if centre is not None else []
    full = torch.cat([phases, *middle, phases.flip(0, 1)], dim=1).to(device=device, dtype=torch.float32)
    ys, xs = pixel_grid((side, side), device)
    radius = torch.sqrt((xs - side / 2) ** 2 + (ys - side / 2) ** 2) * (min(size) / side)
    spectrum = torch.roll(torch.polar(power(radius), full), (side // 2, side // 2), dims=(0, 1))
    noise = torch.fft.ifft2(spectrum).real
    return (noise / noise.std(correction=0))[:size[0], :size[1]]


def _blue(radius: Tensor) -> Tensor:
    return radius


def _brownish(radius: Tensor) -> Tensor:
    return 1 / (radius**2 + 1)


def sample_blue_noise_sample(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Phases of one blue noise on the square of the longer side, threshold `level / 10 * 3 - 2.5`."""
    return {**_sample_phases(generator, max(size)), "threshold": level * 0.3 - 2.5}


def render_blue_noise_sample(image: Tensor, phases: Tensor, centre: Tensor | None, threshold: float) -> Tensor:
    """`x * [n > threshold]`, `n` blue noise (power `|k|`) of unit standard deviation: black where it is low."""
    noise = fourier_noise(phases, centre, _blue, image.shape[-2:], image.device)
    return image * (noise > threshold)


def sample_brownish_noise(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Phases of three brownish noises (one per channel, drawn in turn), intensity `level / 10 * 64` levels."""
    draws = [_sample_phases(generator, max(size)) for _ in range(3)]
    return {"phases": [d["phases"] for d in draws], "centres": [d["centre"] for d in draws],
            "intensity": level * 6.4}


def render_brownish_noise(image: Tensor, phases: list[Tensor], centres: list[Tensor | None],
                          intensity: float) -> Tensor:
    """`x_c + intensity * n_c`, `n_c` brownish noise (power `1 / (|k|^2 + 1)`) of unit standard deviation."""
    noise = [fourier_noise(p, c, _brownish, image.shape[-2:], image.device) for p, c in zip(phases, centres)]
    return image + intensity / 255 * torch.stack(noise)


def sample_perlin_noise(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """The lattice's draws: `(256, 2)` gradient components uniform in 0..511 and 256 swap partners uniform in
    0..255 (the reference's `randint(2^31) % 512`, `% 256`); frequency `1 / (32 * side / 224)`; blend alpha
    `level / 10 * 0.5`."""
    return {"gradients": torch.randint(0, 2 * LATTICE, (LATTICE, 2), generator=generator),
            "swaps": torch.randint(0, LATTICE, (LATTICE,), generator=generator),
            "frequency": 1 / (PERLIN_PERIOD * min(size)), "alpha": level * 0.05}


def _lattice(gradients: Tensor, swaps: Tensor) -> tuple[Tensor, Tensor]:
    """Unit gradients `(k - 256) / |k - 256|` (a zero vector, NaN in the reference, stays zero) and the
    permutation of the reference's loop, which swaps entry i with entry `swaps[255 - i]` for i = 255..0."""
    centred = (gradients - LATTICE).double()
    permutation = list(range(LATTICE))
    for i, j in zip(range(LATTICE - 1, -1, -1), swaps.tolist()):
        permutation[i], permutation[j] = permutation[j], permutation[i]
    return torch.tensor(permutation), centred / centred.norm(dim=1, keepdim=True).clamp_min(1)


def _perlin(a: Tensor, b: Tensor, permutation: Tensor, gradients: Tensor) -> Tensor:
    """2-D gradient noise at float coordinates `(a, b)` >= 0: the reference's `noise(a, b)`, whose lattice
    offset 4096 (a multiple of 256) drops out of the cell index and fraction."""
    cell_a, cell_b = a.floor(), b.floor()
    ra, rb = a - cell_a, b - cell_b
    ia, ib = cell_a.long() % LATTICE, cell_b.long() % LATTICE
    hash_a, hash_a1 = permutation[ia], permutation[(ia + 1) % LATTICE]

    def dot(offset_a: Tensor, offset_b: Tensor, corner: Tensor) -> Tensor:
        g = gradients[permutation[corner % LATTICE]]
        return offset_a * g[..., 0] + offset_b * g[..., 1]

    sa, sb = ra**2 * (3 - 2 * ra), rb**2 * (3 - 2 * rb)
    low = torch.lerp(dot(ra, rb, hash_a + ib), dot(ra - 1, rb, hash_a1 + ib), sa)
    high = torch.lerp(dot(ra, rb - 1, hash_a + ib + 1), dot(ra - 1, rb - 1, hash_a1 + ib + 1), sa)
    return 1.5 * torch.lerp(low, high, sb)


def render_perlin_noise(image: Tensor, gradients: Tensor, swaps: Tensor, frequency: float, alpha: float) -> Tensor:
    """`(1 - alpha) x + alpha * clip(0.5 * t + 0.5, 0, 1)`, `t = sum_o |noise(o f y, o f x)| / o` over the
    octaves o, f the frequency, the same on every channel (`_lattice`, `_perlin`)."""
    ys, xs = pixel_grid(image.shape[-2:], image.device)
    permutation, gradients = _lattice(gradients, swaps)
    permutation = permutation.to(image.device)
    gradients = gradients.to(device=image.device, dtype=torch.float32)
    turbulence = sum(_perlin(o * frequency * ys, o * frequency * xs, permutation, gradients).abs() / o
                     for o in OCTAVES)
    return (1 - alpha) * image + alpha * (0.5 * turbulence + 0.5).clamp(0, 1)


def sample_caustic_refraction(generator: torch.Generator, size: tuple[int, int], level: float) -> dict:
    """Time U(0.5, 2), pattern size U(0.75, 1.25) * side, lens scale `level / 10 * 0.5 * side` px, lighting
    `level / 10 * 2`."""
    time, scale = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    side = min(size)
    return {"time": 0.5 + 1.5 * time, "size": (0.75 + 0.5 * scale) * side, "lens_scale": level * 0.05 * side,
            "lighting_amount": level * 0.2}


def _caustics(shape: tuple[int, int], time: float, size: float, device: torch.device) -> Tensor:
    """The reference's `caustic_noise_kernel` `(H, W)` in [0, 1]: the iterated caustic of the position modulo
    `size`, `clip(|1.17 - c^1.4|^8, 0, 1)`."""
    ys, xs = pixel_grid(shape, device)
    py = torch.remainder(ys / size, 1) * CAUSTIC_TWO_PI - CAUSTIC_OFFSET
    px = torch.remainder(xs / size, 1) * CAUSTIC_TWO_PI - CAUSTIC_OFFSET
    iy, ix, total = py, px, torch.ones_like(py)
    for n in range(CAUSTIC_STEPS):
        t = time * (1 - 3.5 / (n + 1))
        iy, ix = py + torch.cos(t - iy) + torch.sin(t + ix), px + torch.sin(t - ix) + torch.cos(t + iy)
        length = torch.sqrt((py / (torch.sin(iy + t) / CAUSTIC_INTENSITY)) ** 2
                            + (px / (torch.cos(ix + t) / CAUSTIC_INTENSITY)) ** 2)
        total = total + 1 / length
    return (1.17 - (total / CAUSTIC_STEPS) ** 1.4).abs().pow(8).clamp(0, 1)


def render_caustic_refraction(image: Tensor, time: float, size: float, lens_scale: float,
                              lighting_amount: float) -> Tensor:
    """Refract the image through a lens shaped by caustics, then light it by their gradient.

    `L` = the caustics blurred with sigma 1 (scipy `gaussian_filter`, reflect border; the reference's luma of
    three equal channels), zero outside the image. At pixel (y, x) the lens normal is `n = (g_y, g_x, 1) / |.|`,
    `g_y = L(y+1, x) - L(y-1, x)`, `g_x = L(y, x+1) - L(y, x-1)`; Snell's law into index 4 bends the view ray
    `(0, 0, 1)` to `n (sqrt(1 - (1 - n_z^2) / 16) - n_z / 4) + ...`, whose in-plane part times the lens scale
    (rounded to 1e-3 px) moves the bilinear sample point (zeros outside); then `+ lighting * (g_y - g_x)`.
    """
    h, w = image.shape[-2:]
    luma = gaussian_blur2d(_caustics((h, w), time, size, image.device)[None, None], SOFTENING, mode="reflect")
    padded = F.pad(luma[0, 0], (1, 1, 1, 1))
    grad_y = padded[2:, 1:-1] - padded[:-2, 1:-1]
    grad_x = padded[1:-1, 2:] - padded[1:-1, :-2]
    norm = torch.sqrt(grad_y**2 + grad_x**2 + 1)
    cos_in = 1 / norm
    # in-plane part of the refracted ray: n_xy (cos(out) - cos(in) / eta), sin(out) = sin(in) / eta
    bend = torch.sqrt(1 - (1 - cos_in**2) / ETA**2) - cos_in / ETA
    bend = torch.where(cos_in >= STRAIGHT, 0.0, bend) * lens_scale / norm
    ys, xs = pixel_grid((h, w), image.device)
    y = ys + torch.round(grad_y * bend * DECIMALS) / DECIMALS
    x = xs + torch.round(grad_x * bend * DECIMALS) / DECIMALS
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)[None]
    refracted = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="zeros",
                              align_corners=True)[0]
    return refracted + lighting_amount * (grad_y - grad_x)
