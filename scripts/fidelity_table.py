"""How faithful the torch backend is to imagecorruptions, measured on real photographs; writes FIDELITY.md.

    python scripts/fidelity_table.py [--seeds 8] [--out corruptions/FIDELITY.md]

Deterministic corruptions: PSNR between the torch and the reference outputs (uint8). Random corruptions: the
ratio torch / reference of the mean |corrupted - clean| over `--seeds` seeds (the two backends use different
random streams, so only their distributions can agree). Both on scikit-image's colour photographs at 224 x 224
and at an odd size (97 x 131). Needs scikit-image (a test dependency). The sections of the other benchmarks
(from `OTHER_BENCHMARKS` on), written by hand from their parity tests, are kept when the file is rewritten.
"""

import argparse
import math
import sys
from importlib import metadata
from pathlib import Path

import torch

from corruptions.names import DETERMINISTIC, get_corruption_names
from corruptions.registry import corrupt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from photos import PHOTOGRAPHS, load_photographs, mean_abs_difference, psnr  # noqa: E402  (shared with tests)

SIZES = ((224, 224), (97, 131))
# Issue 4: PSNR >= 35 dB for deterministic corruptions, mean |difference| within 10% for random ones.
PSNR_GOAL = 35.0
RATIO_TOLERANCE = 0.10
# The imaug fork draws frost among six pictures; compare like with like (ImageNet-C used five: the default).
OPTIONS = {"frost": {"frost_images": 6}}
# Hand-written and separately generated sections at the end of FIDELITY.md, kept when this script rewrites it:
# ImageNet-P / CIFAR-10-P (scripts/fidelity_p.py), then the other benchmarks (3DCC, ImageNet-C-bar).
KEPT_SECTIONS = ("## ImageNet-P and CIFAR-10-P", "\n# Other benchmarks\n")
PACKAGES = ("torch", "torchvision", "imagecorruptions-imaug", "scikit-image", "scipy", "numpy", "pillow",
            "opencv-python")

DIFFERENCES = """\
## imagecorruptions vs the released ImageNet-C

The reference backend is imagecorruptions (`imagecorruptions-imaug` 1.1.5), itself not the generator of the
released ImageNet-C (`make_imagenet_c.py`, hendrycks/robustness). Published ImageNet-C numbers come from the
released JPEGs; numbers from on-the-fly corruption are "ImageNet-C style" and are labelled so.

- motion_blur and snow replace ImageMagick's motion blur with a NumPy kernel (shifted copies weighted by a half
  Gaussian, edge replicated).
- elastic_transform is a different family: Gaussian-smoothed uniform displacements scaled by the image size, no
  affine step.
- pixelate upsamples with NEAREST (the release used BOX).
- frost rescales the frost picture x1.1 before cropping; the fork picks among 6 frost pictures where ImageNet-C
  used the first 5 (the torch backend defaults to 5; `frost_images=6` is the fork's choice, used above).
- fog draws a plasma map of the next power of two of the image side (the release: a fixed 256 map).
- The per-severity constants are those of `make_imagenet_c.py`. CIFAR-10-C used milder ones: the torch
  backend's `preset="cifar"` (not compared here: imagecorruptions has no such preset; tested against
  make_cifar_c.py's functions in `tests/test_corruptions_presets.py`).

## The torch backend vs imagecorruptions

- Random corruptions draw from torch's generators, not NumPy's: equal in distribution, not image for image.
  `corrupt(images, name, severity, seeds)` takes one seed per image (or draws them from a generator); image i
  draws from a generator seeded with the first draw of a CPU generator seeded with `seeds[i]` (the reference
  backend seeds NumPy with `seeds[i]` itself), in the same calls whatever the batch, so a batch gives every image
  exactly what a call on that image alone gives (`tests/test_corruptions_batched.py`).
- glass_blur: the reference's sequential "swap" loop is, on NumPy views, a copy from a random neighbour
  (`x[p] = x[q]`); on a GPU the torch backend solves that loop exactly for all pixels and passes at once, on the
  CPU it runs the loop itself, compiled with numba with the blurs and truncation (`corruptions/_glass_cpu.py`).
  Both are bit-exact given the same offsets, tested against the reference's numba kernel and each other.
- jpeg_compression: torchvision's libjpeg (`encode_jpeg`/`decode_jpeg`) instead of Pillow's, same quality.
- pixelate: Pillow's BOX (8-bit fixed-point, horizontal pass first) and NEAREST resampling reproduced exactly.
- Arithmetic in float32 (the reference mostly in float64); results truncated to 8 bits as `np.uint8` does, with a
  1e-3 tolerance so float32 rounding of an exact level does not drop it by one.
"""


def measure(name: str, severity: int, images: torch.Tensor, seeds: int) -> float:
    """PSNR (deterministic `name`) or mean-|difference| ratio torch / reference over `seeds` seeds."""
    options = OPTIONS.get(name, {})
    if name in DETERMINISTIC:
        return psnr(corrupt(images, name, severity, **options), corrupt(images, name, severity, backend="reference"))
    totals = {"torch": 0.0, "reference": 0.0}
    for backend in totals:
        for seed in range(seeds):
            generator = torch.Generator().manual_seed(seed)
            extra = options if backend == "torch" else {}
            out = corrupt(images, name, severity, generator=generator, backend=backend, **extra)
            totals[backend] += mean_abs_difference(out, images)
    return totals["torch"] / totals["reference"]


def _cell(name: str, value: float) -> tuple[str, bool]:
    if name in DETERMINISTIC:
        return ("exact" if math.isinf(value) else f"{value:.1f}"), value >= PSNR_GOAL
    return f"{value:.3f}", abs(value - 1) <= RATIO_TOLERANCE


def report(seeds: int) -> str:
    """FIDELITY.md as text: a table per image size, then the known differences."""
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    lines = ["# Fidelity of the torch corruptions to imagecorruptions", "",
             "Generated by `python scripts/fidelity_table.py` up to the ImageNet-P section (written by "
             "`scripts/fidelity_p.py`); the \"Other benchmarks\" sections are written by hand.", "",
             f"Photographs: scikit-image's {', '.join(PHOTOGRAPHS)} (centre-cropped, resized). Deterministic "
             f"corruptions: PSNR in dB between the torch and reference uint8 outputs (goal >= {PSNR_GOAL:.0f}, "
             f"`exact` = identical). Random corruptions (*italic*): torch / reference ratio of the mean |corrupted - "
             f"clean| over {seeds} seeds x {len(PHOTOGRAPHS)} photographs (goal within "
             f"{RATIO_TOLERANCE:.0%} of 1).", "", f"Versions: {versions}.", ""]
    for size in SIZES:
        images = load_photographs(size)
        lines += [f"## {size[0]} x {size[1]}", "", "| corruption | s1 | s2 | s3 | s4 | s5 | goal met |",
                  "|---|---|---|---|---|---|---|"]
        for name in get_corruption_names("all"):
            cells = [_cell(name, measure(name, severity, images, seeds)) for severity in range(1, 6)]
            label = name if name in DETERMINISTIC else f"*{name}*"
            met = "yes" if all(ok for _, ok in cells) else "**no**"
            lines.append(f"| {label} | " + " | ".join(text for text, _ in cells) + f" | {met} |")
            print(lines[-1], flush=True)
        lines.append("")
    return "\n".join(lines + [DIFFERENCES])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "corruptions" / "FIDELITY.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    old = args.out.read_text() if args.out.exists() else ""
    starts = [old.index(heading) for heading in KEPT_SECTIONS if heading in old]
    tail = old[min(starts):].lstrip("\n") if starts else ""
    args.out.write_text(report(args.seeds) + ("\n" + tail if tail else ""))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
