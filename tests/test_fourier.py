"""Fourier basis perturbations (`corruptions.fourier`) against closed forms: unit norm, the inverse DFT of the
documented conjugate-symmetric pair (NumPy's FFT, as google-research `freq_heatmap.py` builds it), the number of
distinct basis images, DC as a uniform brightness shift, per-image signs."""

import numpy as np
import pytest
import torch

from corruptions.fourier import (
    canonical_offsets,
    fourier_basis,
    fourier_perturb,
    fourier_signs,
    offset_range,
    partner,
)

SIZES = [(8, 8), (7, 9), (6, 5), (32, 32)]


def documented_pair(offset: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The complex image sqrt(H W) * ifft2(ifftshift(F)), F = (1 + i) / 2 at `offset`, (1 - i) / 2 at its partner
    (1 at a self-partnered offset), offsets at fftshift-ed index `u + H // 2`."""
    h, w = size
    spectrum = np.zeros(size, complex)
    mine = (offset[0] + h // 2, offset[1] + w // 2)
    other = partner(offset, size)
    theirs = (other[0] + h // 2, other[1] + w // 2)
    if mine == theirs:
        spectrum[mine] = 1
    else:
        spectrum[mine], spectrum[theirs] = 0.5 + 0.5j, 0.5 - 0.5j
    return np.sqrt(h * w) * np.fft.ifft2(np.fft.ifftshift(spectrum))


@pytest.mark.parametrize("size", SIZES)
def test_every_basis_image_is_the_real_unit_inverse_dft_of_its_pair(size):
    offsets = canonical_offsets(size)
    basis = fourier_basis(offsets, size, dtype=torch.float64).numpy()
    for offset, image in zip(offsets, basis):
        reference = documented_pair(offset, size)
        assert np.abs(reference.imag).max() < 1e-12  # the pair's inverse DFT is real
        np.testing.assert_allclose(image, reference.real, atol=1e-12)
        assert np.linalg.norm(image) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("size", SIZES)
def test_one_offset_per_distinct_basis_image(size):
    h, w = size
    self_partnered = (1 + (h % 2 == 0)) * (1 + (w % 2 == 0))  # DC and the Nyquist offsets of even sides
    offsets = canonical_offsets(size)
    assert len(offsets) == (h * w + self_partnered) // 2
    assert len({*offsets, *(partner(o, size) for o in offsets)}) == h * w
    images = fourier_basis(offsets, size, dtype=torch.float64).reshape(len(offsets), -1)
    np.testing.assert_allclose((images @ images.T).numpy(), np.eye(len(offsets)), atol=1e-10)  # orthonormal


def test_windows_and_steps():
    assert list(offset_range(32)) == list(range(-16, 16))
    assert list(offset_range(224, 63)) == list(range(-31, 32))
    assert len(canonical_offsets((224, 224), 63)) == (63 * 63 + 1) // 2
    assert canonical_offsets((32, 32), step=8) == [(-16, -16), (-16, -8), (-16, 0), (-8, -16), (-8, -8), (-8, 0),
                                                   (-8, 8), (0, -16), (0, -8), (0, 0)]
    with pytest.raises(ValueError, match="window"):
        offset_range(32, 33)


def test_dc_basis_is_a_uniform_brightness_shift():
    images = torch.rand(4, 3, 6, 10) * 0.5 + 0.25
    signs = fourier_signs(3, range(4), 1)[:, 0]
    eps = 0.7
    perturbed = fourier_perturb(images, fourier_basis([(0, 0)], (6, 10))[0], signs, eps)
    shift = perturbed - images
    expected = eps * signs / np.sqrt(60)  # (B, C): one constant per image and channel
    torch.testing.assert_close(shift, expected[..., None, None].expand_as(shift), atol=1e-6, rtol=0)


def test_perturbation_clips_and_batches_over_frequencies():
    images = torch.rand(2, 3, 8, 8)
    basis = fourier_basis(canonical_offsets((8, 8)), (8, 8))
    signs = fourier_signs(0, [4, 9], len(basis))
    everything = fourier_perturb(images, basis, signs, 5.0)
    assert everything.shape == (2, len(basis), 3, 8, 8) and 0 <= everything.min() and everything.max() <= 1
    one = fourier_perturb(images, basis[7], signs[:, 7], 5.0)
    torch.testing.assert_close(everything[:, 7], one)
    torch.testing.assert_close(one, (images + 5.0 * signs[:, 7, :, None, None] * basis[7]).clamp(0, 1))


def test_signs_depend_on_the_image_only():
    signs = fourier_signs(11, [3, 5, 8], 20)
    assert set(signs.unique().tolist()) == {-1.0, 1.0} and signs.shape == (3, 20, 3)
    torch.testing.assert_close(fourier_signs(11, [5], 20)[0], signs[1])
    assert not torch.equal(fourier_signs(12, [5], 20)[0], signs[1])
