"""CSV for people who open it in a spreadsheet: no text cell may be read as a formula.

Model, data set and corruption names come from the user (`--name`, `--dataset`, a folder name) and from stores
of others; a name like `=cmd|' /C calc'!A0` written verbatim into a CSV runs when the file is opened in a
spreadsheet. OWASP's rule (owasp.org/www-community/attacks/CSV_Injection): a text cell starting with `=`, `+`,
`-`, `@`, tab or carriage return is prefixed with a single quote, which spreadsheets show as text. Numbers are
numbers (a negative value stays `-1.5`); only text is touched. A carriage return inside text would end the row
for many readers (and start a new cell, perhaps a formula) but is not quoted by pandas' minimal quoting (only
"\n" is its line terminator): a file holding one is written with every text field quoted. Every CSV the
project writes goes through `to_csv`.
"""

import csv
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)."""


def safe_cell(value: object) -> object:
    """`value`; text starting with one of `FORMULA_STARTS` gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _safe_labels(index: pd.Index) -> pd.Index:
    names = [safe_cell(name) for name in index.names]
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(safe_cell(v) for v in key) for key in index], names=names)
    if pd.api.types.is_numeric_dtype(index):
        return index.rename(names[0])
    return pd.Index([safe_cell(v) for v in index], name=names[0], dtype=object)


def _safe_column(column: pd.Series) -> pd.Series:
    return column if pd.api.types.is_numeric_dtype(column) else column.map(safe_cell)


def to_csv(frame: pd.DataFrame, path: str | Path | None = None, **kwargs) -> str | None:
    """`frame.to_csv(path, **kwargs)` with every text cell, index value, column name and index name made
    `safe_cell`; returns the text when `path` is None."""
    safe = pd.concat([_safe_column(column) for _, column in frame.items()], axis=1) if frame.shape[1] else \
        frame.copy()
    safe.index, safe.columns = _safe_labels(frame.index), _safe_labels(frame.columns)
    text = [v for labels in (safe.index, safe.columns) for key in labels for v in np.ravel(key)]
    text += [v for _, column in safe.items() if not pd.api.types.is_numeric_dtype(column) for v in column]
    if any(isinstance(v, str) and "\r" in v for v in text):
        kwargs = {**kwargs, "quoting": csv.QUOTE_NONNUMERIC}
    return safe.to_csv(path, **kwargs)
