"""Per-image random streams, so a corrupted image does not depend on its batch.

The batch generator (or torch's global generator when it is `None`) is asked for exactly one 62-bit seed per
image, in batch order (`image_seeds`); each image then draws everything it needs from its own
`torch.Generator` seeded with that seed (`image_generators`). Splitting a sequence of images into batches of any
size therefore gives every image the same seed and the same corruption, provided the same generator is passed
along the batches (`corrupt` on the CPU applies this twice: one seed per image from the caller's generator seeds
a generator that the corruption function, run on that image alone, asks for its seed). The reference backend
seeds NumPy with per-image seeds drawn the same way.
"""

import torch
from torch import Tensor

# Seeds are drawn below 2**62 so they fit int64 and `torch.Generator.manual_seed`.
SEED_BOUND = 2**62


def image_seeds(generator: torch.Generator | None, n: int) -> list[int]:
    """`n` seeds drawn from `generator` (one int64 draw per image; global RNG when `None`)."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(SEED_BOUND, (n,), generator=generator, device=device).tolist()


def image_generators(generator: torch.Generator | None, n: int, device: torch.device) -> list[torch.Generator]:
    """One generator on `device` per image, seeded from `image_seeds(generator, n)`."""
    return [torch.Generator(device=device).manual_seed(seed) for seed in image_seeds(generator, n)]


def per_image_uniform(gens: list[torch.Generator], shape: tuple[int, ...], device: torch.device) -> Tensor:
    """float32 `(N, *shape)` uniform in [0, 1), row `i` drawn from `gens[i]`."""
    return torch.stack([torch.rand(shape, generator=g, device=device) for g in gens])


def per_image_normal(gens: list[torch.Generator], shape: tuple[int, ...], device: torch.device) -> Tensor:
    """float32 `(N, *shape)` standard normal, row `i` drawn from `gens[i]`."""
    return torch.stack([torch.randn(shape, generator=g, device=device) for g in gens])


def per_image_poisson(gens: list[torch.Generator], rates: Tensor) -> Tensor:
    """Poisson counts with rates `(N, ...)` (float), row `i` drawn from `gens[i]`; same shape and dtype."""
    return torch.stack([torch.poisson(r, generator=g) for r, g in zip(rates, gens)])
