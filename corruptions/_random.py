"""Per-image random streams, so a corrupted image depends on its own seed only, never on its batch.

A batch is corrupted with one seed per image, `(N,)` (`Seeds`). Each image draws everything it needs from its
own `torch.Generator` seeded with its seed (`seed_generators`), in the same calls, order and shapes whatever
the batch, so splitting a batch changes no value; the heavy tensor work then runs on the whole batch. Without
seeds, a batch generator (or torch's global one when `None`) is asked for one 62-bit seed per image, in batch
order (`image_seeds`): consecutive batches corrupted with the same generator give every image the seed it
would get in one batch. The reference backend seeds NumPy with the same per-image seeds.
"""

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from robustbench_lift.errors import UsageError

# Seeds are drawn below 2**62 so they fit int64 and `torch.Generator.manual_seed`.
SEED_BOUND = 2**62
Seeds = Sequence[int] | Tensor
"""One non-negative integer seed per image: a sequence of ints or an integer tensor `(N,)`."""


def image_seeds(generator: torch.Generator | None, n: int) -> list[int]:
    """`n` seeds drawn from `generator` (one int64 draw per image; global RNG when `None`)."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(SEED_BOUND, (n,), generator=generator, device=device).tolist()


def check_seeds(seeds: Seeds, n: int) -> list[int]:
    """`seeds` as a list of `n` ints in `0 .. 2**64 - 1` (what `manual_seed` takes), else UsageError."""
    values = seeds.tolist() if isinstance(seeds, Tensor) else list(seeds)
    if (isinstance(seeds, Tensor) and (seeds.ndim != 1 or seeds.is_floating_point())) or len(values) != n \
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**64 for s in values):
        shape = tuple(seeds.shape) if isinstance(seeds, Tensor) else len(values)
        raise UsageError(f"seeds must be one non-negative integer below 2**64 per image ({n}), got {shape}")
    return values


def seed_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator on `device` per seed."""
    return [torch.Generator(device=device).manual_seed(seed) for seed in seeds]


def first_draws(seeds: Sequence[int]) -> list[int]:
    """For each seed, the first `image_seeds` draw of a CPU generator seeded with it (one ~5 us draw each)."""
    return [image_seeds(torch.Generator().manual_seed(seed), 1)[0] for seed in seeds]


def per_image_uniform(gens: list[torch.Generator], shape: tuple[int, ...], device: torch.device) -> Tensor:
    """float32 `(N, *shape)` uniform in [0, 1), row `i` drawn from `gens[i]`."""
    return torch.stack([torch.rand(shape, generator=g, device=device) for g in gens])


UNIFORM_BITS = 24
"""On the CPU `torch.rand` gives float32 `(r mod 2**24) / 2**24` for one 32-bit MT19937 draw `r` per value
(ATen `uniform_real_distribution`, `transformation::uniform_real`)."""


def per_image_uniform_bits(gens: list[torch.Generator], shape: tuple[int, ...], bits: int = UNIFORM_BITS) -> Tensor:
    """int32 `(N, *shape)`: `floor(2**bits * u)` for the uniforms `u = per_image_uniform(gens, shape)` of CPU
    generators (`bits <= 24`: exactly `u`'s top bits), the same draws without the float conversion.

    Drawn as 64-bit words, about twice as fast as one 32-bit draw per value: `random_` over the full int64 range
    takes two MT19937 draws per word, the first in the high half (ATen `random64`), so on a little-endian host
    the two fields are swapped before the word is read as two int32 values in draw order.
    """
    n, count, drop = len(gens), math.prod(shape), UNIFORM_BITS - bits
    words = torch.empty((n, (count + 1) // 2), dtype=torch.int64)
    for row, gen in zip(words, gens):
        row.random_(-(2**63), None, generator=gen)
    fields = words.bitwise_right_shift_(drop).bitwise_and_((1 << bits) - 1 | ((1 << bits) - 1) << 32)
    ordered = torch.bitwise_left_shift(fields, 32).bitwise_or_(fields.bitwise_right_shift_(32))
    return ordered.view(torch.int32)[:, :count].reshape(n, *shape)


def per_image_normal(gens: list[torch.Generator], shape: tuple[int, ...], device: torch.device) -> Tensor:
    """float32 `(N, *shape)` standard normal, row `i` drawn from `gens[i]`."""
    return torch.stack([torch.randn(shape, generator=g, device=device) for g in gens])


def per_image_poisson(gens: list[torch.Generator], rates: Tensor) -> Tensor:
    """Poisson counts with rates `(N, ...)` (float), row `i` drawn from `gens[i]`; same shape and dtype."""
    return torch.stack([torch.poisson(r, generator=g) for r, g in zip(rates, gens)])
