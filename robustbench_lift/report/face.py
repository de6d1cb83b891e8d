"""What a suite shows in the report, declared once: its `Face` (metrics, summariser, paired units, tables,
figures, sections). A leaf module (no pandas, no other report module), so `report/faces/<suite>.py` can
declare a face that `summary`, `aggregate`, `paired` and `build` all read without an import cycle.

Functions are given as objects or as lazy `"module:attribute"` strings (as in `registry.Registry`), resolved
on use (`registry.resolve`): a face names `report.aggregate:error_summary` without importing the module that
reads the faces.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    description: str
    task: str = "classification"
    """"classification" or "segmentation": the report's summary table that shows it (`tables.SUMMARIES`)."""


Ref = Callable[..., Any] | str
"""A function, or `"module:attribute"` naming one (imported by `registry.resolve` on use)."""


@dataclass(frozen=True)
class TableOptions:
    """What the caller of the report chose that a face's tables may read (`Table.options`)."""

    n_boot: int = 1000
    seed: int = 0
    er_fits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Given effective-robustness lines `{shifted set: (slope, intercept)}` on logit axes (suite ood, `--er-fit`)."""


@dataclass(frozen=True)
class Table:
    """A detail table: `build(frame) -> DataFrame` (points; empty when the suite has no rows), its best value
    per row marked when `higher_is_better` is a bool (None: no marks). `options=True`: called as
    `build(frame, TableOptions)`."""

    name: str
    build: Ref
    higher_is_better: bool | None = None
    options: bool = False


@dataclass(frozen=True)
class Figure:
    """A figure: `make(frame, tables) -> matplotlib Figure | None` (None: nothing to draw), from the results
    frame and every report table by name (`{name: (table, best)}`)."""

    name: str
    make: Ref


@dataclass(frozen=True)
class Section:
    """A section of report.html: shown when its table (a `Table` name or a report table) is non-empty or its
    figure was drawn (a `Figure` name, or one the caller of `build_report` passes as `extra_figures`)."""

    title: str
    table: str | None
    figure: str | None
    text: str


@dataclass(frozen=True)
class Face:
    """One suite's report face. `priority`: lower first, for the order of metrics, tables and sections and for
    which suite supplies a metric two suites give (the "c" row's clean error is the one its relative mCE used).
    `summarize(cells, n_boot, seed, level) -> row` (`report.aggregate.summarize`; fractions, `<m>_lo`/`<m>_hi`),
    `units(cells) -> SuiteUnits | None` (`report.paired`; None: not compared image by image)."""

    suite: str
    priority: int
    metrics: dict[str, Metric]
    summarize: Ref
    units: Ref | None = None
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    sections: tuple[Section, ...] = ()
