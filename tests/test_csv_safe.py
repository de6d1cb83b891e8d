"""Every CSV the project writes is spreadsheet-safe (OWASP CSV injection): a text cell, index value or header
starting with = + - @ tab or CR is written after a single quote, numbers stay numbers. Checked by reading the
files back with Python's own `csv` module."""

import csv
import io

import pandas as pd
import pytest
from paired_fixtures import cli
from report_fixtures import put

from robustbench_lift.csv_safe import to_csv
from robustbench_lift.report.tables import render, report_tables
from robustbench_lift.store import ResultStore, export_results

PAYLOADS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1"]
OWASP = ("=", "+", "-", "@", "\t", "\r")


def cells_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_safe(rows: list[list[str]], numbers: tuple[str, ...] = ()) -> None:
    """No cell starts a formula, except the plain numbers in `numbers`."""
    risky = [cell for row in rows for cell in row if cell.startswith(OWASP) and cell not in numbers]
    assert not risky, risky


def test_text_cells_headers_and_index_get_a_quote_and_numbers_do_not():
    frame = pd.DataFrame({"name": PAYLOADS, "delta": [-1.5, 2.0, -0.25, 0.0, 1.0, -3.0],
                          PAYLOADS[0]: ["plain", "a-b", "x=1", "", "@", "-"]},
                         index=pd.Index(PAYLOADS[::-1], name="@model"))
    rows = cells_of(to_csv(frame))
    assert rows[0] == ["'@model", "name", "delta", "'" + PAYLOADS[0]]
    assert [row[1] for row in rows[1:]] == ["'" + p for p in PAYLOADS]
    assert [row[0] for row in rows[1:]] == ["'" + p for p in PAYLOADS[::-1]]
    assert [row[2] for row in rows[1:]] == ["-1.5", "2.0", "-0.25", "0.0", "1.0", "-3.0"]
    assert [row[3] for row in rows[1:]] == ["plain", "a-b", "x=1", "", "'@", "'-"]
    assert_safe(rows, numbers=("-1.5", "-0.25", "-3.0"))
    assert len(rows) == 1 + len(PAYLOADS)  # the carriage returns stay inside their quoted fields


def test_a_carriage_return_inside_a_name_cannot_start_a_row_of_its_own():
    rows = cells_of(to_csv(pd.DataFrame({"model": ["net\r=cmd|' /C calc'!A0", "net"], "err": [0.5, 0.25]})))
    assert rows == [["", "model", "err"], ["0", "net\r=cmd|' /C calc'!A0", "0.5"], ["1", "net", "0.25"]]


@pytest.fixture
def store(tmp_path):
    """Two models, one named like a formula, on a data set named like another, with a clean and a noise cell."""
    path = tmp_path / "r.db"
    with ResultStore(path) as results:
        for model, wrong in ((PAYLOADS[0], (5, 8)), ("net", (4, 6))):
            put(results, model, "c", PAYLOADS[3], "clean", 0, wrong[0], num_classes=10)
            put(results, model, "c", PAYLOADS[3], "gaussian_noise", 1, wrong[1], num_classes=10)
    return path


def test_exported_results_are_spreadsheet_safe(store, tmp_path):
    out = export_results(store, tmp_path / "cells.csv")
    rows = cells_of(out.read_text())
    assert_safe(rows)
    header = rows[0]
    models = {row[header.index("model")] for row in rows[1:]}
    assert models == {"'" + PAYLOADS[0], "net"} and {row[header.index("dataset")] for row in rows[1:]} == {
        "'" + PAYLOADS[3]}
    assert {float(row[header.index("top1_err")]) for row in rows[1:]} == {5 / 20, 8 / 20, 4 / 20, 6 / 20}


def test_report_and_compare_csv_tables_are_spreadsheet_safe(store, capsys):
    tables = report_tables(store, baseline="net", n_boot=0)
    assert {"summary", "deltas", "corruption"} <= set(tables)
    for name, (table, _) in tables.items():
        rows = cells_of(render(table, "csv"))
        assert_safe(rows, numbers=tuple(c for row in rows[1:] for c in row[1:]))  # only numbers after the index
        labels = [row[0] for row in rows[1:]] + rows[0]
        assert PAYLOADS[0] not in labels, name
    code, out, _ = cli(capsys, "compare", "net", PAYLOADS[0], "--results", str(store), "--format", "csv",
                       "--n-boot", "20")
    assert code == 0 and "'" + PAYLOADS[0] in out
    for table in out.split("\n\n"):
        assert_safe(cells_of(table), numbers=tuple(c for row in cells_of(table) for c in row
                                                    if c.lstrip("-").replace(".", "").isdigit()))
