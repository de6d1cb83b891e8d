"""Report figures (the matplotlib objects: bars, lines, points and their values) and the HTML page."""

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from report_fixtures import (
    N_IMAGES,
    P_BASELINE_NAME,
    WRONG,
    all_by_hand,
    p_cell_by_hand,
    put_fake_suite,
    shift_by_hand,
    write_store,
)

from robustbench_lift.report import build_report, figures
from robustbench_lift.report.summary import load, summary_table
from robustbench_lift.report.tables import corruption_table, perturbation_table, shift_table

MODELS = ["resnet-lift", "resnet-max"]  # store order (sorted keys)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("fig") / "results.db")


def bars(ax) -> list[list[float]]:
    """Heights per bar container (one container per model)."""
    return [[patch.get_height() for patch in container] for container in ax.containers]


def test_ce_per_corruption_has_a_bar_per_model_and_corruption(store):
    table = corruption_table(store)
    fig = figures.ce_per_corruption(table)
    (ax,) = fig.axes
    assert bars(ax) == [pytest.approx(table[m].tolist()) for m in MODELS]  # 2 models x 4 corruptions
    assert [t.get_text() for t in ax.get_xticklabels()] == ["gaussian noise", "defocus blur", "snow", "contrast"]
    assert "AlexNet = 100" in ax.get_ylabel() and "%" in ax.get_ylabel()
    assert [line.get_ydata()[0] for line in ax.lines] == [100.0]  # the AlexNet reference
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AlexNet", *MODELS]


def test_error_vs_severity_has_a_panel_per_family_and_a_line_per_model(store):
    fig = figures.error_vs_severity(load(store))
    families = ("noise", "blur", "weather", "digital")
    assert [ax.get_title() for ax in fig.axes] == [f"{f} (1 corruption)" for f in families]
    for ax, corruption in zip(fig.axes, ("gaussian_noise", "defocus_blur", "snow", "contrast")):
        assert len(ax.lines) == len(MODELS) and ax.get_xlabel() == "severity (0 = clean)"
        for line, model in zip(ax.lines, MODELS):
            clean, cells = WRONG[model]
            expected = [100 * w / N_IMAGES for w in (clean, *cells[corruption])]
            assert line.get_xdata().tolist() == [0, 1, 2, 3, 4, 5]
            assert line.get_ydata().tolist() == pytest.approx(expected)
    assert fig.axes[0].get_ylabel() == "top-1 error (%)"


def test_mce_vs_clean_has_a_point_per_model_with_ci_bars(store):
    summary = summary_table(store, n_boot=100)
    fig = figures.mce_vs_clean(summary)
    (ax,) = fig.axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == len(MODELS)
    for collection, model in zip(points, MODELS):
        assert collection.get_offsets()[0].tolist() == pytest.approx(summary.loc[model, ["clean_err", "mCE"]].tolist())
    assert len(ax.containers) == len(MODELS)  # one error-bar container per model
    assert ax.get_xlabel() == "clean top-1 error (%)" and ax.get_ylabel() == "mCE (%)"


def test_flip_rate_and_consistency_plots(store):
    table = perturbation_table(store)
    fig = figures.flip_rate(table)
    (ax,) = fig.axes
    fp = {m: {name: 100 * v[0] for (name, d), v in p_cell_by_hand(m).items() if d == 1} for m in MODELS}
    assert bars(ax) == [pytest.approx([fp[m][name] for name in table.index]) for m in MODELS]
    assert [t.get_text() for t in ax.get_xticklabels()] == [name.replace("_", " ") for name in table.index]
    assert ax.get_ylabel() == "flip probability (%)"
    fig = figures.consistency_vs_shift(shift_table(store))
    (ax,) = fig.axes
    assert [line.get_xdata().tolist() for line in ax.lines] == [[0, 1, 2, 3, 4]] * len(MODELS)
    assert [line.get_ydata().tolist() for line in ax.lines] == [pytest.approx(shift_by_hand(m)[1]) for m in MODELS]
    assert ax.get_xlabel() == "diagonal shift (pixels)" and "%" in ax.get_ylabel()


def test_corruption_grid_shows_each_corruption_at_each_severity(photos):
    photo = photos[1]
    fig = figures.corruption_grid(photo, ["gaussian_noise", "contrast"], [1, 5])
    assert len(fig.axes) == 2 * 3
    images = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert np.array_equal(images[0], photo.permute(1, 2, 0).numpy())  # clean column is the photograph
    assert all(not np.array_equal(images[0], image) for image in images[1:3])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["clean", "severity 1", "severity 5"]
    assert fig.axes[3].get_ylabel() == "contrast"
    # Contrast scales each channel's spread about its mean by 0.4 (s1) and 0.05 (s5), ImageNet-C constants.
    spread = [np.asarray(images[i], dtype=float).std(axis=(0, 1)) for i in (3, 4, 5)]
    assert spread[1] == pytest.approx(0.4 * spread[0], rel=0.05)
    assert spread[2] == pytest.approx(0.05 * spread[0], rel=0.2)


def test_save_writes_png_and_parseable_svg(store, tmp_path):
    fig = figures.ce_per_corruption(corruption_table(store))
    png, svg = figures.save(fig, tmp_path, "ce")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and "<dc:date>" not in svg.read_text()
    assert "gaussian noise" in svg.read_text()  # text kept as text


class WellFormed(HTMLParser):
    """Checks every opened element is closed in order; collects href/src values."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [value for name, value in attrs if name in ("href", "src")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [value for name, value in attrs if name in ("href", "src", "xlink:href")]

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_html_report_is_well_formed_self_contained_and_links_exist(store, tmp_path, photos):
    written = build_report(store, tmp_path / "out", baseline="resnet-max", n_boot=50, example_image=photos[0])
    page = tmp_path / "out" / "report.html"
    assert page in written and all(p.stat().st_size > 0 for p in written)
    parser = WellFormed()
    parser.feed(page.read_text())
    parser.close()
    assert parser.stack == []
    external = [r for r in parser.refs if not r.startswith(("#", "data:"))]
    assert external and all((page.parent / r).is_file() for r in external)
    assert not any(r.startswith(("http:", "https:", "//")) for r in parser.refs)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert parser.tags.count("svg") == 6 and parser.tags.count("img") == 1  # 6 charts inline, the photo grid
    assert parser.tags.count("table") == 7
    assert {Path(r).stem for r in external} >= {"summary", "deltas", "corruption_deltas", "corruption", "severity",
                                                "perturbation", "shift", "corruption_grid", "mce_vs_clean", "forest"}


def test_report_without_p_and_shift_rows_leaves_their_sections_out(tmp_path):
    store = write_store(tmp_path / "c.db", p=False, shift=False)
    written = build_report(store, tmp_path / "out", formats=["md", "html"], grid=False, n_boot=20)
    names = sorted(p.name for p in written)
    assert "flip_rate.png" not in names and "shift.md" not in names and "corruption_grid.png" not in names
    assert "summary.md" in names and "summary.csv" not in names and "report.html" in names
    text = (tmp_path / "out" / "report.html").read_text()
    assert "ImageNet-P" not in text.split("<h2>")[-1] and "Consistency under shift" not in text


def test_report_of_p_and_shift_only_has_their_summary_and_sections(tmp_path):
    store = write_store(tmp_path / "p.db", c=False)
    written = build_report(store, tmp_path / "out", grid=False, n_boot=20)
    assert sorted(p.name for p in written if p.suffix == ".md") == ["perturbation.md", "shift.md", "summary.md"]
    summary = (tmp_path / "out" / "tables" / "summary.md").read_text().splitlines()
    assert summary[0].split(" | ")[1:] == ["mFP", "mFR", "mT5D", "consistency", "shift acc. |"]
    for model in WRONG:
        row = next(line for line in summary if line.startswith(f"| {model} ") or line.startswith(f"| **{model}"))
        assert f"{all_by_hand(model)['mFR']:.1f} [" in row and f"{all_by_hand(model)['consistency']:.1f} [" in row
    text = (tmp_path / "out" / "report.html").read_text()
    assert f"ImageNet-P baseline for FR/T5D: {P_BASELINE_NAME}." in text
    assert "Shift consistency: crop shifts" in text and "Suites without a summary" not in text
    assert "<h2>Summary</h2>" in text and "<h2>Consistency under shift</h2>" in text
    assert "<h2>ImageNet-P flip probability</h2>" in text and "Per-corruption" not in text


def test_report_lists_suites_without_summariser_and_keeps_them_out_of_corruption_views(tmp_path):
    store = write_store(tmp_path / "r.db", p=False, shift=False)
    put_fake_suite(store)
    written = build_report(store, tmp_path / "out", formats=["csv", "html"], grid=False, n_boot=20)
    text = (tmp_path / "out" / "report.html").read_text()
    assert "Suites without a summary yet (detail tables only): fake." in text
    assert "ImageNet-P baseline" not in text and "Shift consistency" not in text
    severity = next(p for p in written if p.name == "severity.csv")
    table = np.genfromtxt(severity, delimiter=",", names=True, dtype=None, encoding="utf-8")
    clean, cells = WRONG["resnet-max"]
    row = table[table["model"] == "resnet-max"][0]
    assert row["1"] == pytest.approx(100 * np.mean([counts[0] for counts in cells.values()]) / N_IMAGES, abs=1e-4)
    fig = figures.error_vs_severity(load(store))
    line = fig.axes[0].lines[MODELS.index("resnet-max")]
    assert line.get_ydata().tolist() == pytest.approx([100 * w / N_IMAGES for w in (clean, *cells["gaussian_noise"])])
