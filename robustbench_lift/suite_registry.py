"""The suites of `liftbench evaluate` by name, and `make_suites` to build them with their options."""

import inspect
from pathlib import Path
from typing import Any

from robustbench_lift.errors import UsageError
from robustbench_lift.suites import CleanSuite, CorruptionSuite, Suite, check_names
from robustbench_lift.suites_p import PerturbationSuite
from robustbench_lift.suites_shift import ShiftSuite

SUITES: dict[str, type[Suite]] = {"clean": CleanSuite, "c": CorruptionSuite, "p": PerturbationSuite,
                                  "shift": ShiftSuite}
"""Suite name -> class; a new suite is one class plus one line here."""
ALL = ("c", "p", "shift")
"""What `suite="all"` runs."""


SHARED_OPTIONS = frozenset({"seed", "backend", "device"})
"""Options every suite is offered; a suite that does not draw random numbers or corrupt ignores them."""


def make_suites(name: str, data: str | Path, **options: Any) -> list[Suite]:
    """The suite `name` (or the `ALL` suites for `"all"`) over `data` with the suite class's keyword `options`.

    An option the suite does not take is a `UsageError` (e.g. corruptions for `clean`), except the
    `SHARED_OPTIONS`; for `"all"`, an option none of its suites takes.
    """
    check_names([name], [*SUITES, "all"], "suite")
    classes = [SUITES[n] for n in ALL] if name == "all" else [SUITES[name]]
    accepted = [inspect.signature(cls).parameters for cls in classes]
    unused = sorted(k for k, v in options.items() if v is not None and k not in SHARED_OPTIONS and
                    not any(k in a for a in accepted))
    if unused:
        raise UsageError(f"suite {name!r} does not take {', '.join(unused)}")
    return [cls(data, **{k: v for k, v in options.items() if k in a}) for cls, a in zip(classes, accepted)]
