"""The FR/T5D baseline of suite `p`: a model's flip probability and uT5D per cell, read and validated whole.

Sources: a CSV `perturbation,[difficulty,]flip_prob,ut5d` (difficulty 1 when absent), or the `p` cells of a
results store (`results.db`, `results.db#<model>` when it holds several models; `suites.base.baseline_cells`).
As the CI baseline (`report.baseline`), nothing that would make FR or T5D wrong passes: a value that is not a
finite number, a flip probability outside [0, 1] (a fraction of frames), a negative uT5D (a sum of rank
distances), a difficulty outside 1..3, a repeated cell, an unreadable or binary file are each a `UsageError`
naming the file, the row and the value. A baseline of 0 stays legal: FR and T5D there are undefined and
`metrics.perturbation.perturbation_aggregates` warns.
"""

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from corruptions.names import DIFFICULTIES
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.base import baseline_cells

COLUMNS = "perturbation,[difficulty,]flip_prob,ut5d"
"""The CSV header the baseline expects, for messages."""


@dataclass(frozen=True)
class PBaseline:
    """A model's FP and uT5D per `(perturbation, difficulty)`, the denominators of FR and T5D."""

    name: str
    values: dict[tuple[str, int], tuple[float, float]]


def load_p_baseline(source: str | Path) -> PBaseline:
    """A validated baseline from a CSV or from the `p` cells of a results store (module docstring)."""
    path, _, model = str(source).partition("#")
    if not Path(path).is_file():
        raise UsageError(f"p baseline {path} not found: expected a CSV ({COLUMNS}) or a results store of "
                         "`liftbench evaluate --suite p --model alexnet-max ...`")
    if path.endswith(".csv"):
        table = _read_csv(Path(path))
        difficulty = table["difficulty"] if "difficulty" in table else pd.Series(1, index=table.index)
        rows = zip(table["perturbation"], difficulty, table["flip_prob"], table["ut5d"])
        return PBaseline(Path(path).name, _checked(rows, f"p baseline {path}", first_row=2))
    cells, name = baseline_cells(path, model, "p", str(source))
    missing = sorted({"flip_prob", "ut5d"} - set(cells))
    if missing:
        raise UsageError(f"p baseline {source}: its p cells hold no {', '.join(missing)}; re-evaluate the baseline "
                         "model with `liftbench evaluate --suite p`")
    rows = zip(cells["corruption"], cells["severity"], cells["flip_prob"], cells["ut5d"])
    return PBaseline(name, _checked(rows, f"p baseline {source}"))


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV as text columns (values checked by `_checked`); a binary, non-UTF-8 or malformed file, or one
    without the needed columns or rows, is a `UsageError`."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"p baseline {path} is not a UTF-8 text CSV ({exc.reason} at byte {exc.start}); expected "
                         f"{COLUMNS}") from exc
    if "\x00" in text:
        raise UsageError(f"p baseline {path} is a binary file (NUL byte at {text.index(chr(0))}), not a CSV; "
                         f"expected {COLUMNS}")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except ValueError as exc:  # pandas' ParserError and EmptyDataError included
        raise UsageError(f"p baseline {path} is not a valid CSV: {str(exc).strip()}; expected {COLUMNS}") from exc
    missing = sorted({"perturbation", "flip_prob", "ut5d"} - set(table))
    if missing:
        raise UsageError(f"p baseline {path}: no column(s) {', '.join(missing)} (expected {COLUMNS})")
    if table.empty:
        raise UsageError(f"p baseline {path} holds no rows; expected one per (perturbation, difficulty)")
    return table


def _number(value: object) -> float:
    """`value` as a float, NaN when it is not a number (bools, empty or non-numeric text)."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _checked(rows: Iterable[tuple[object, object, object, object]], origin: str, first_row: int = 1
             ) -> dict[tuple[str, int], tuple[float, float]]:
    """`{(perturbation, difficulty): (flip_prob, ut5d)}` of `rows` (perturbation, difficulty, flip_prob, ut5d),
    each value validated; the first bad one is a `UsageError` naming its row (numbered from `first_row`)."""
    values: dict[tuple[str, int], tuple[float, float]] = {}
    for row, (perturbation, difficulty, flip_prob, ut5d) in enumerate(rows, start=first_row):
        where = f"{origin}, row {row}"
        name = str(perturbation).strip()
        if not name:
            raise UsageError(f"{where}: empty perturbation name; expected e.g. gaussian_noise")
        level = _number(difficulty)
        if level not in DIFFICULTIES:
            raise UsageError(f"{where} ({name}): difficulty must be one of {', '.join(map(str, DIFFICULTIES))}, "
                             f"got {difficulty!r}")
        fp, distance = _number(flip_prob), _number(ut5d)
        if not (math.isfinite(fp) and 0 <= fp <= 1):
            raise UsageError(f"{where} ({name}): flip_prob must be a finite fraction in [0, 1], got {flip_prob!r}")
        if not (math.isfinite(distance) and distance >= 0):
            raise UsageError(f"{where} ({name}): ut5d must be a finite number >= 0, got {ut5d!r}")
        cell = (name, int(level))
        if cell in values:
            raise UsageError(f"{where}: {name} at difficulty {int(level)} appears twice; keep one row per cell")
        values[cell] = (fp, distance)
    return values
