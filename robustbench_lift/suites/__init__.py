"""What to evaluate: the suites by name, each with its typed options, and `make_suite` to build one.

    >>> from robustbench_lift.suites import SUITES, make_suite
    >>> SUITES.names()
    ['clean', 'c', 'p', 'shift', 'seg', 'ood', 'freq']
    >>> suite = make_suite("c", "demo", CorruptionOptions(preset="cifar"))
    >>> suite.dataset, [len(group.cells) for group in suite.groups()]   # one pass: clean + 15 corruptions x 5
    ('demo-otf-cifar', [76])

A suite is one class (`suites.base.Suite`) plus one line here: its class (imported on first use) and its options
class. `"all"` runs the `ALL` suites.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from robustbench_lift.registry import Registry
from robustbench_lift.suites.options import (
    CleanOptions,
    CorruptionOptions,
    FreqOptions,
    OODOptions,
    PerturbationOptions,
    SegmentationOptions,
    ShiftOptions,
    SuiteOptions,
)

SUITES: Registry = Registry("suite")
SUITES.register("clean", "robustbench_lift.suites.base:CleanSuite", options=CleanOptions)
SUITES.register("c", "robustbench_lift.suites.corruption:CorruptionSuite", options=CorruptionOptions)
SUITES.register("p", "robustbench_lift.suites.perturbation:PerturbationSuite", options=PerturbationOptions)
SUITES.register("shift", "robustbench_lift.suites.shift:ShiftSuite", options=ShiftOptions)
SUITES.register("seg", "robustbench_lift.suites.segmentation:SegmentationSuite", options=SegmentationOptions)
SUITES.register("ood", "robustbench_lift.suites.ood:OODSuite", options=OODOptions)
SUITES.register("freq", "robustbench_lift.suites.freq:FreqSuite", options=FreqOptions)
if TYPE_CHECKING:
    from robustbench_lift.suites.base import Suite

ALL = ("c", "p", "shift")
"""What `suite="all"` runs."""


def suite_names(name: str) -> list[str]:
    """The suites `name` stands for: itself, or the `ALL` suites for `"all"`."""
    SUITES.check([name], extra=["all"])
    return list(ALL) if name == "all" else [name]


def options_class(name: str) -> type[SuiteOptions]:
    """The options dataclass of suite `name`."""
    return SUITES.metadata(name)["options"]


def make_suite(name: str, data: str | Path, options: SuiteOptions | None = None, *, seed: int = 0,
               device: str = "cpu") -> "Suite":
    """Suite `name` over `data` with its `options` (default: the suite's defaults); `seed` draws every per-image
    random number, `device` resolves the corruption backends."""
    cls = options_class(name)
    options = cls() if options is None else options
    if not isinstance(options, cls):
        raise TypeError(f"suite {name!r} takes {cls.__name__}, got {type(options).__name__}")
    return SUITES.get(name)(data, options, seed=seed, device=device)
