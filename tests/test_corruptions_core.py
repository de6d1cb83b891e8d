"""corruptions.corrupt / get_corruption_names: names, validation, determinism, batch independence, dtypes and
sizes, and the reference backend's seeding."""

import imagecorruptions
import numpy as np
import pytest
import torch
from photos import load_photographs
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

import corruptions
from corruptions.names import BENCHMARKS, DETERMINISTIC, SUBSETS
from corruptions.registry import REFERENCE_FASTER_ON_CPU, resolve_backend
from robustbench_lift.errors import UsageError

ALL = corruptions.get_corruption_names("all")
RANDOM = [name for name in ALL if name not in DETERMINISTIC]


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_photographs(64)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("subset", [s for s in SUBSETS if s not in BENCHMARKS])
def test_names_and_subsets_are_imagecorruptions(subset):
    assert corruptions.get_corruption_names(subset) == imagecorruptions.get_corruption_names(subset)


def test_default_subset_is_common_and_unknown_subset_is_a_usage_error():
    assert corruptions.get_corruption_names() == imagecorruptions.get_corruption_names("common")
    with pytest.raises(UsageError, match="'commons'.*common"):
        corruptions.get_corruption_names("commons")


def test_unknown_name_lists_closest(photos):
    with pytest.raises(UsageError, match="did you mean gaussian_noise") as info:
        corruptions.corrupt(photos, "gausian_noise", 1)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, "3", None])
def test_severity_outside_1_to_5_is_a_value_error(photos, severity):
    with pytest.raises(ValueError, match="severity must be an integer from 1 to 5"):
        corruptions.corrupt(photos, "contrast", severity)


@pytest.mark.parametrize("images, message", [
    (torch.zeros(2, 1, 64, 64, dtype=torch.uint8), r"\(N, 3, H, W\)"),
    (torch.zeros(3, 64, 64, dtype=torch.uint8), r"\(N, 3, H, W\)"),
    (torch.zeros(1, 3, 31, 64, dtype=torch.uint8), "at least 32x32"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.int32), "uint8 .* or float"),
])
def test_bad_images_are_usage_errors(images, message):
    with pytest.raises(UsageError, match=message):
        corruptions.corrupt(images, "contrast", 1)


def test_bad_backend_and_options_are_usage_errors(photos):
    with pytest.raises(UsageError, match="unknown backend 'numpy'"):
        corruptions.corrupt(photos, "contrast", 1, backend="numpy")
    with pytest.raises(UsageError, match="no option"):
        corruptions.corrupt(photos, "contrast", 1, frost_images=6)
    with pytest.raises(UsageError, match="no option"):
        corruptions.corrupt(photos, "frost", 1, backend="reference", frost_images=6)


def test_auto_backend_follows_the_table_on_cpu_and_is_torch_elsewhere():
    for name in ALL:
        expected = "reference" if name in REFERENCE_FASTER_ON_CPU else "torch"
        assert resolve_backend("auto", name, torch.device("cpu")) == expected
        assert resolve_backend("auto", name, torch.device("cuda")) == "torch"


@pytest.mark.parametrize("name", ALL)
def test_every_severity_runs_at_odd_224_and_cifar_sizes(name):
    """uint8 in, uint8 out, same shape, and the image actually changes."""
    for size in [(97, 131), (224, 224), (32, 32)]:
        image = load_photographs(size, names=("chelsea",))
        for severity in range(1, 6):
            out = corruptions.corrupt(image, name, severity, generator=_gen(severity))
            assert out.shape == image.shape and out.dtype == torch.uint8
            assert not torch.equal(out, image), (name, size, severity)


@pytest.mark.parametrize("name", RANDOM)
def test_same_seed_same_output_and_images_differ_within_a_batch(photos, name):
    twins = photos[:1].repeat(2, 1, 1, 1)
    first = corruptions.corrupt(twins, name, 3, generator=_gen(7))
    assert torch.equal(first, corruptions.corrupt(twins, name, 3, generator=_gen(7)))
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(first, corruptions.corrupt(twins, name, 3, generator=_gen(8)))


@pytest.mark.parametrize("name", RANDOM)
def test_result_does_not_depend_on_batch_size(photos, name):
    """The same generator carried over batches of 1 and 3 gives what one batch of 4 gives."""
    whole = corruptions.corrupt(photos, name, 2, generator=_gen(3))
    generator = _gen(3)
    parts = [corruptions.corrupt(photos[:1], name, 2, generator=generator),
             corruptions.corrupt(photos[1:], name, 2, generator=generator)]
    assert torch.equal(whole, torch.cat(parts))


@pytest.mark.parametrize("name", ["gaussian_noise", "zoom_blur", "brightness", "jpeg_compression"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_input_gives_float_output_on_the_8_bit_grid(photos, name, dtype):
    as_uint8 = corruptions.corrupt(photos, name, 4, generator=_gen(0))
    as_float = corruptions.corrupt(photos.to(dtype) / 255, name, 4, generator=_gen(0))
    assert as_float.dtype == dtype and as_float.shape == photos.shape
    torch.testing.assert_close(as_float, as_uint8.to(dtype) / 255, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_input_is_not_modified(photos, name):
    for images in (photos, photos.float() / 255):
        before = images.clone()
        corruptions.corrupt(images, name, 5, generator=_gen(0))
        assert torch.equal(images, before)


@pytest.mark.parametrize("name", ["impulse_noise", "glass_blur", "motion_blur", "gaussian_noise"])
def test_reference_backend_is_seeded_per_image_and_restores_numpy_state(photos, name):
    """Same generator -> same images (impulse_noise and glass_blur through the fork's `seed=`), identical
    images get different corruptions, and NumPy's global state is left as it was."""
    twins = photos[:1].repeat(2, 1, 1, 1)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    first = corruptions.corrupt(twins, name, 3, generator=_gen(5), backend="reference")
    assert np.array_equal(np.random.get_state()[1], state)
    assert torch.equal(first, corruptions.corrupt(twins, name, 3, generator=_gen(5), backend="reference"))
    assert not torch.equal(first[0], first[1])


def test_reference_backend_equals_imagecorruptions_image_by_image(photos):
    """A deterministic corruption through the adapter is exactly imagecorruptions' output."""
    out = corruptions.corrupt(photos, "zoom_blur", 2, backend="reference")
    for got, image in zip(out, photos):
        expected = imagecorruptions.corrupt(image.permute(1, 2, 0).numpy(), severity=2, corruption_name="zoom_blur")
        assert np.array_equal(got.permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("name", ["gaussian_noise", "glass_blur", "snow", "zoom_blur"])
def test_cpu_worker_threads_give_the_same_result(photos, name):
    """With several torch threads the CPU path spreads images over worker threads: same output as one thread,
    and the caller's thread count is restored."""
    expected = corruptions.corrupt(photos, name, 3, generator=_gen(11))
    torch.set_num_threads(2)
    try:
        got = corruptions.corrupt(photos, name, 3, generator=_gen(11))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert torch.equal(got, expected)
