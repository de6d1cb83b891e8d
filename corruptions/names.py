"""Names, families and subsets of every corruption and perturbation: the one owner of these lists (no torch).

Corruptions (`CORRUPTIONS`): the 19 of imagecorruptions (`imagecorruptions/__init__.py`, imaug fork 1.1.5, in its
`corruption_tuple` order): the 15 of ImageNet-C (Hendrycks & Dietterich, ICLR 2019) in four families, then the
4 extra ("validation") ones. Each entry is its torch function (imported on first use) with metadata `family`,
`subsets` and `deterministic` (no randomness for a given image). `SUBSETS` are imagecorruptions'
`get_corruption_names` lists ("all" is its 19). Two more published benchmarks follow, each its own family and
subset, opt-in (outside "common", the default, and "all"): `3dcc`, the 2-D corruptions of 3D Common Corruptions
(Kar et al., CVPR 2022, `create_non3d.py`), `cbar`, ImageNet-C-bar's 10 (Mintun et al., NeurIPS 2021), and `freq`,
model-vs-human's frequency and contrast manipulations (`corruptions.freq_filters`), whose severities are level
indices 1..n (`levels` metadata, `severities_of`).
Neither is in imagecorruptions (no reference backend) or has an AlexNet normaliser (aggregated as mean errors).

Perturbations (`PERTURBATIONS`): the 14 of ImageNet-P (`make_imagenet_p.py`): 10 test, 4 validation; subset
`cifar` is the 10 that CIFAR-10-P's `cifar-p-eval.py` averages (spatter in place of snow). `noise` sequences
are scored against their first frame (`ImageNet-P/test.py`), the others frame to frame; `random` ones draw
per-image random numbers.
"""

from robustbench_lift.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)
"""ImageNet-C severities."""
DIFFICULTIES = (1, 2, 3)
"""ImageNet-P difficulties (`ImageNet-P/test.py --difficulty`): the noises' noise level (release folders `name`,
`name_2`, `name_3`), the others' frame gap (frame j against j - d of their one sequence)."""

CORRUPTIONS: Registry = Registry("corruption")
for _name, _family, _module, _extra, _deterministic in (
        ("gaussian_noise", "noise", "noise", False, False), ("shot_noise", "noise", "noise", False, False),
        ("impulse_noise", "noise", "noise", False, False),
        ("defocus_blur", "blur", "blur", False, True), ("glass_blur", "blur", "blur", False, False),
        ("motion_blur", "blur", "blur", False, False), ("zoom_blur", "blur", "blur", False, True),
        ("snow", "weather", "weather", False, False), ("frost", "weather", "weather", False, False),
        ("fog", "weather", "weather", False, False), ("brightness", "weather", "digital", False, True),
        ("contrast", "digital", "digital", False, True),
        ("elastic_transform", "digital", "digital", False, False),
        ("pixelate", "digital", "digital", False, True), ("jpeg_compression", "digital", "digital", False, True),
        ("speckle_noise", "noise", "noise", True, False), ("gaussian_blur", "blur", "blur", True, True),
        ("spatter", "weather", "weather", True, False), ("saturate", "digital", "digital", True, True)):
    CORRUPTIONS.register(_name, f"corruptions.{_module}:{_name}", family=_family,
                         subsets=("validation",) if _extra else ("common", _family), deterministic=_deterministic)

IMAGENET_C = tuple(CORRUPTIONS)
"""The 19 of imagecorruptions, in its order."""
BENCHMARKS: dict[str, str] = {"3dcc": "3D Common Corruptions (2-D)", "cbar": "ImageNet-C-bar",
                              "freq": "model-vs-human's frequency and contrast manipulations"}
"""Subset (= family) -> title of the other corruption benchmarks, opt-in by their subset."""
BENCHMARK_LABELS: dict[str, str] = {"3dcc": "3dcc-2d", "cbar": "cbar", "freq": "freq"}
"""Subset -> its label in tables and figures: the 3dcc subset holds 3 of 3DCC's 12 corruptions (the 2-D ones of
`create_non3d.py`), so its mean error is labelled `3dcc-2d`, never to be compared with published 3DCC means."""
for _name in ("iso_noise", "low_light", "color_quant"):  # `create_non3d.py`'s order
    CORRUPTIONS.register(_name, f"corruptions.cc3d:{_name}", family="3dcc", subsets=("3dcc",),
                         deterministic=_name == "color_quant")
for _name in ("blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout",
              "cocentric_sine_waves", "inverse_sparkles", "perlin_noise", "plasma_noise",
              "single_frequency_greyscale", "sparkles"):  # the ImageNet-C-bar README's order
    CORRUPTIONS.register(_name, f"corruptions.cbar:{_name}", family="cbar", subsets=("cbar",), deterministic=False)
for _name, _levels in (("low_pass", 8), ("high_pass", 8), ("phase_noise", 7), ("uniform_noise", 8),
                       ("grey_contrast", 8)):  # levels: corruptions.freq_filters.LEVELS (model-vs-human's)
    CORRUPTIONS.register(_name, f"corruptions.freq_filters:{_name}", family="freq", subsets=("freq",),
                         deterministic=_name not in ("phase_noise", "uniform_noise"), levels=_levels)

SUBSETS: dict[str, tuple[str, ...]] = {
    "common": tuple(CORRUPTIONS.names(subsets="common")),
    "validation": tuple(CORRUPTIONS.names(subsets="validation")),
    "all": IMAGENET_C,
    **{family: tuple(CORRUPTIONS.names(subsets=family)) for family in ("noise", "blur", "weather", "digital")},
    **{benchmark: tuple(CORRUPTIONS.names(subsets=benchmark)) for benchmark in BENCHMARKS},
}
DETERMINISTIC: tuple[str, ...] = tuple(CORRUPTIONS.names(deterministic=True))


def severities_of(name: str) -> tuple[int, ...]:
    """The severities of corruption `name`: 1..n for one with n published levels (subset "freq"), else 1..5 (also
    for a name this package does not know: a pre-rendered tree's own)."""
    levels = CORRUPTIONS.metadata(name).get("levels") if name in CORRUPTIONS else None
    return SEVERITIES if levels is None else tuple(range(1, levels + 1))


ALL_SEVERITIES: tuple[int, ...] = tuple(range(1, 1 + max(len(severities_of(name)) for name in CORRUPTIONS)))
"""Every severity some corruption has (1..8: subset "freq"), the range `--severities` takes."""

PERTURBATIONS: Registry = Registry("perturbation")
for _name, _split, _noise, _random in (
        ("gaussian_noise", "test", True, True), ("shot_noise", "test", True, True),
        ("motion_blur", "test", False, False), ("zoom_blur", "test", False, False), ("snow", "test", False, True),
        ("brightness", "test", False, False), ("translate", "test", False, False), ("rotate", "test", False, False),
        ("tilt", "test", False, False), ("scale", "test", False, False),
        ("speckle_noise", "validation", True, True), ("gaussian_blur", "validation", False, False),
        ("spatter", "validation", False, True), ("shear", "validation", False, False)):
    _cifar = ("cifar",) if _name == "spatter" or (_split == "test" and _name != "snow") else ()
    PERTURBATIONS.register(_name, "corruptions.perturbations:perturbation_sequence", subsets=(_split, *_cifar),
                           noise=_noise, random=_random)

P_SUBSETS: dict[str, tuple[str, ...]] = {
    "test": tuple(PERTURBATIONS.names(subsets="test")),
    "validation": tuple(PERTURBATIONS.names(subsets="validation")),
    "all": tuple(PERTURBATIONS),
    "cifar": tuple(PERTURBATIONS.names(subsets="cifar")),
}
NOISE_PERTURBATIONS: tuple[str, ...] = tuple(PERTURBATIONS.names(noise=True))
RANDOM_PERTURBATIONS: tuple[str, ...] = tuple(PERTURBATIONS.names(random=True))


def get_corruption_names(subset: str = "common") -> list[str]:
    """Corruption names of `subset`: "common" (the 15 of ImageNet-C), "validation" (the 4 extra), "all" (the 19),
    a family: "noise", "blur", "weather", "digital" (same lists and order as imagecorruptions), or another
    benchmark: "3dcc" (iso_noise, low_light, color_quant), "cbar" (ImageNet-C-bar's 10), "freq" (low_pass,
    high_pass, phase_noise, uniform_noise, grey_contrast)."""
    Registry("corruption subset").check([subset], extra=list(SUBSETS))
    return list(SUBSETS[subset])


def get_perturbation_names(subset: str = "test") -> list[str]:
    """ImageNet-P perturbation names: `"test"` (10), `"validation"` (4), `"all"` (14) or `"cifar"` (the 10 of
    cifar-p-eval.py)."""
    Registry("perturbation subset").check([subset], extra=list(P_SUBSETS))
    return list(P_SUBSETS[subset])


def expand_corruptions(tokens: str | list[str] | tuple[str, ...] | None, strict: bool = True) -> list[str]:
    """Corruption names from names and/or subsets (comma-separated text or a list); `None`: the common 15.
    Not `strict`: names this package does not know pass through (a pre-rendered tree's own)."""
    return CORRUPTIONS.expand(tokens, SUBSETS, "common", strict)


def expand_perturbations(tokens: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Perturbation names from names and/or subsets test, validation, all, cifar; `None`: the 10 test ones."""
    return PERTURBATIONS.expand(tokens, P_SUBSETS, "test")
