"""One batched, seeded call: `corrupt(images, name, severity, seeds)` and `perturbation_sequence(..., seeds=)` give
every image exactly what a call on that image alone gives with its generator (the per-image path the suites
took before), for every corruption, every random perturbation and both backends; seeds are validated."""

import pytest
import torch
from photos import load_photographs
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

import corruptions
from corruptions._random import first_draws, image_seeds
from corruptions.names import CORRUPTIONS, RANDOM_PERTURBATIONS
from corruptions.perturbations import perturbation_sequence
from corruptions.registry import resolve_corruption
from corruptions.seeding import corrupt_indexed, derive_seed, item_seeds, seeded_generator
from robustbench_lift.errors import UsageError

INDICES = [3, 17, 40]
SEED = 11


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_photographs((40, 48), names=("astronaut", "coffee", "chelsea"))


def _one_by_one(photos: torch.Tensor, name: str, severity: int, backend: str = "torch") -> torch.Tensor:
    """The per-image path: one `corrupt` call per image with the item's own generator."""
    return torch.cat([corruptions.corrupt(photos[i:i + 1], name, severity, backend=backend,
                                          generator=seeded_generator(SEED, name, severity, index))
                      for i, index in enumerate(INDICES)])


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_one_batched_call_equals_one_call_per_image(photos, name):
    for severity in (2, 5):
        batched = corrupt_indexed(photos, INDICES, name, severity, SEED, "torch")
        assert torch.equal(batched, _one_by_one(photos, name, severity)), (name, severity)


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "frost", "pixelate"])
def test_reference_backend_takes_the_same_seeds(photos, name):
    batched = corrupt_indexed(photos, INDICES, name, 3, SEED, "reference")
    assert torch.equal(batched, _one_by_one(photos, name, 3, "reference"))


@pytest.mark.parametrize("name", RANDOM_PERTURBATIONS)
def test_one_batched_sequence_call_equals_one_call_per_image(photos, name):
    difficulty = 2
    batched = perturbation_sequence(photos, name, length=4, difficulty=difficulty,
                                    seeds=item_seeds(SEED, name, difficulty, INDICES))
    alone = torch.cat([perturbation_sequence(photos[i:i + 1], name, length=4, difficulty=difficulty,
                                             generator=seeded_generator(SEED, name, difficulty, index))
                       for i, index in enumerate(INDICES)])
    assert torch.equal(batched, alone)


def test_item_seed_is_the_first_draw_of_the_item_generator():
    expected = torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(derive_seed(SEED, "fog", 3, 40)))
    assert item_seeds(SEED, "fog", 3, [40]) == expected.tolist()
    assert first_draws([5, 6]) == [image_seeds(torch.Generator().manual_seed(s), 1)[0] for s in (5, 6)]


def test_seeds_or_generator_and_a_resolved_corruption_agree(photos):
    generator = torch.Generator().manual_seed(4)
    seeds = image_seeds(torch.Generator().manual_seed(4), len(photos))
    drawn = corruptions.corrupt(photos, "snow", 3, generator=generator)
    assert torch.equal(drawn, corruptions.corrupt(photos, "snow", 3, torch.tensor(seeds)))
    assert torch.equal(drawn, resolve_corruption("snow", 3, device=photos.device)(photos, seeds))
    assert not torch.equal(drawn, corruptions.corrupt(photos, "snow", 3, [s + 1 for s in seeds]))


@pytest.mark.parametrize("seeds", [[1, 2], [1, 2, -3], [1.0, 2.0, 3.0], torch.zeros(3, 1, dtype=torch.int64)])
def test_seeds_must_be_one_integer_per_image(photos, seeds):
    with pytest.raises(UsageError, match=r"one non-negative integer below 2\*\*64 per image \(3\)"):
        corruptions.corrupt(photos, "fog", 1, seeds)
    with pytest.raises(UsageError, match="per image"):
        perturbation_sequence(photos, "snow", length=2, seeds=seeds)


def test_seeds_and_a_generator_are_exclusive(photos):
    with pytest.raises(UsageError, match="not both"):
        corruptions.corrupt(photos, "fog", 1, [1, 2, 3], generator=torch.Generator())
    with pytest.raises(UsageError, match="not both"):
        perturbation_sequence(photos, "snow", length=2, seeds=[1, 2, 3], generator=torch.Generator())
