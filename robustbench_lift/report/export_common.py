"""What every export names: liftbench's version and the settings of the exported cells (`export_settings`)."""

from collections.abc import Sequence
from typing import Any

import pandas as pd

from robustbench_lift import __version__

ON_THE_FLY = "on-the-fly"
"""The fingerprint `source` of cells whose corruptions liftbench rendered from clean images."""
ON_THE_FLY_NOTE = ("corruptions rendered on the fly by liftbench (ImageNet-C style), not the released benchmark's "
                   "images: not comparable with results on the released data")
SETTING_KEYS = ("precision", "preset", "source")
"""Fingerprint entries every export names (`export_settings`, columns of the flat CSV)."""


def export_settings(cells: pd.DataFrame) -> dict[str, Any]:
    """What produced `cells` (one model's rows of a `load`ed frame): `liftbench_version` (of the exporter),
    `precision`, `preset`, `data` (the corrupted cells' sources, e.g. "on-the-fly" or a release layout),
    `images` (the fewest images of a cell) and `note` (whether the data are a released benchmark's). Keys
    whose value no cell records are left out; several values are joined with ", "."""
    prints = list(cells["fingerprint"])

    def joined(key: str, rows: Sequence[dict[str, Any]]) -> str | None:
        return ", ".join(sorted({str(f[key]) for f in rows if f.get(key) is not None})) or None

    corrupted = [f for f, corruption in zip(prints, cells["corruption"]) if corruption != "clean"]
    data = joined("source", corrupted)
    released = f"released data ({data})" if data else None
    settings = {"liftbench_version": __version__, "precision": joined("precision", prints),
                "preset": joined("preset", prints), "data": data, "images": int(cells["n"].min()),
                "note": ON_THE_FLY_NOTE if data and ON_THE_FLY in data.split(", ") else released}
    return {key: value for key, value in settings.items() if value is not None}


def settings_line(settings: dict[str, Any]) -> str:
    """`export_settings` as one line of text: "liftbench 0.1.0; precision fp32; ...; <note>"."""
    parts = [f"liftbench {settings['liftbench_version']}"]
    parts += [f"{key} {settings[key]}" for key in ("precision", "preset", "data", "images") if key in settings]
    return "; ".join(parts + ([settings["note"]] if "note" in settings else []))
