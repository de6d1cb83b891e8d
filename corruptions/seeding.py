"""One seed scheme for everything drawn per image: corruptions, perturbations, shift crops and training.

`derive_seed(*parts)` hashes its parts (e.g. `(seed, "fog", 3, index)` or `(seed, epoch, step, rank)`) into a
63-bit seed that is the same on every run, platform and batching (a hash, unlike Python's `hash`), so an item's
randomness depends only on what it is, never on its batch, its worker or which items a resumed run still had
to compute. `corrupt_indexed` applies it to corrupting items of a data set.
"""

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from `parts`: blake2b of their `/`-joined text, little-endian, shifted right by one."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def seeded_generator(*parts: object) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `derive_seed(*parts)`."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def corrupt_indexed(images: Tensor, indices: Sequence[int], corruption: str, severity: int, seed: int,
                    backend: str = "auto", preset: str = "imagenet") -> Tensor:
    """`corruptions.corrupt` (with `backend`, `preset`) of a batch whose images are items `indices` of a data set,
    each image's randomness drawn from `seeded_generator(seed, corruption, severity, index)`.

    The result of an image depends on neither its batch nor the device's RNG; `corrupt` takes one generator per
    call, so random corruptions run one call per image, deterministic ones on the whole batch.
    """
    from corruptions.names import DETERMINISTIC
    from corruptions.registry import corrupt

    if corruption in DETERMINISTIC:
        return corrupt(images, corruption, severity, backend=backend, preset=preset)
    return torch.cat([corrupt(images[i:i + 1], corruption, severity, backend=backend, preset=preset,
                              generator=seeded_generator(seed, corruption, severity, index))
                      for i, index in enumerate(indices)])
