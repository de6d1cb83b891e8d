"""One seed scheme for everything drawn per image: corruptions, perturbations, shift crops and training.

`derive_seed(*parts)` hashes its parts (e.g. `(seed, "fog", 3, index)` or `(seed, epoch, step, rank)`) into a
63-bit seed that is the same on every run, platform and batching (a hash, unlike Python's `hash`), so an item's
randomness depends only on what it is, never on its batch, its worker or which items a resumed run still had
to compute. `item_seeds` turns it into the per-image seeds of a batch of data-set items, `corrupt_indexed`
corrupts such a batch in one call.
"""

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._random import first_draws


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from `parts`: blake2b of their `/`-joined text, little-endian, shifted right by one."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seeded_generator(*parts: object) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `derive_seed(*parts)`."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def item_seeds(seed: int, name: str, level: int, indices: Sequence[int]) -> list[int]:
    """The seed of each item `indices` of a data set under `(name, level)` (a corruption and severity, or a
    perturbation and difficulty): the first draw of `seeded_generator(seed, name, level, index)` (the seed
    `corrupt` drew when it was given that generator per image, so every item keeps its pixels)."""
    return first_draws([derive_seed(seed, name, level, index) for index in indices])


def corrupt_indexed(images: Tensor, indices: Sequence[int], corruption: str, severity: int, seed: int,
                    backend: str = "auto", preset: str = "imagenet") -> Tensor:
    """`corruptions.corrupt` (with `backend`, `preset`) of a batch whose images are items `indices` of a data set,
    image i seeded with `item_seeds(seed, corruption, severity, indices)[i]`: its result depends on neither its
    batch nor the device's RNG. One call for the whole batch."""
    from corruptions.registry import corrupt

    return corrupt(images, corruption, severity, item_seeds(seed, corruption, severity, indices), backend=backend,
                   preset=preset)
