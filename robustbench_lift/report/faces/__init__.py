"""Every suite's report face (`report.face.Face`), one module per suite, each defining `FACE`: a new suite
shows up in the summary, the paired statistics, the tables, figures and sections of the report by adding
`report/faces/<suite>.py`, with no registration line elsewhere (the modules of this package are discovered).

`FACES` holds them by suite name in `Face.priority` order; `summary.METRICS`, `aggregate.SUMMARIZERS`,
`paired.UNITS` and the report's tables, figures and sections are read from it.
"""

import importlib
import pkgutil

from robustbench_lift.registry import Registry
from robustbench_lift.report.face import Face, Metric


def _discover() -> Registry[Face]:
    faces: Registry[Face] = Registry("report face")
    found = [importlib.import_module(f"{__name__}.{module.name}").FACE for module in pkgutil.iter_modules(__path__)]
    for face in sorted(found, key=lambda face: face.priority):
        faces.register(face.suite, face)
    return faces


FACES = _discover()


def face_metrics() -> dict[str, Metric]:
    """Every face's metrics in priority order (a metric two faces declare, e.g. clean_err, once)."""
    metrics: dict[str, Metric] = {}
    for _, face in FACES.items():
        for name, metric in face.metrics.items():
            if metrics.setdefault(name, metric) != metric:
                raise ValueError(f"report faces declare metric {name!r} twice, differently")
    return metrics
