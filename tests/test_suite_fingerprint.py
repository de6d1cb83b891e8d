"""A cell's identity records how its clean images were read (issue 28.3): runs at Resize 232 and 256 never share a
fingerprint, so a store neither reuses nor pairs their cells; a store written before (without the new keys) still
resumes at the settings it was computed with."""

import json
import sqlite3
from pathlib import Path

import pytest
from evaluate_fixtures import MEAN, STD, build_data, evaluate_named, tiny_model

from robustbench_lift.data import open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.paired import CellData, check_pairing

C_CELLS = dict(corruptions=["fog"], severities=[1], crop=224, name="tiny", progress=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny-c` (a released-style tree of 32 px JPEGs) and `clean` (64 px PNGs): `evaluate_fixtures.build_data`."""
    return build_data(tmp_path_factory.mktemp("fingerprint"))


def clean_cell(frame) -> dict:
    return frame.loc[frame["corruption"] == "clean", "fingerprint"].iloc[0]


@pytest.mark.parametrize("suite, data, options", [
    ("clean", "clean", dict(crop=224, progress=False)),
    ("c", "tiny-c", dict(C_CELLS, clean="clean")),  # the clean cell of a released tree
])
def test_clean_cells_at_resize_232_and_256_differ(root: Path, suite: str, data: str, options: dict) -> None:
    options = {k: root / v if k == "clean" else v for k, v in options.items()}
    at = {resize: clean_cell(evaluate_named(tiny_model(), suite, root / data, resize=resize, **options))
          for resize in (232, 256)}
    assert at[232]["resize"] == 232 and "resize" not in at[256]  # 256 = 224 / 0.875: ImageNet-C's, as before
    labels = evaluate_named(tiny_model(), "clean", root / "clean", resize=256, crop=224, progress=False)["labels"][0]
    with pytest.raises(UsageError, match="settings differ: resize"):
        check_pairing({("clean", 0): CellData(labels, at[232])}, {("clean", 0): CellData(labels, at[256])})


def test_store_written_before_resumes_and_refuses_another_resize(root: Path, tmp_path: Path) -> None:
    """The clean cell of a released tree as the old code wrote it (no preprocessing keys): resumed at 256/224, the
    ImageNet-C protocol it was computed with; refused at 232, naming the resize."""
    out = tmp_path / "old.db"
    run = dict(C_CELLS, clean=root / "clean", out=out)
    evaluate_named(tiny_model(), "c", root / "tiny-c", resize=256, **run)
    legacy = {"data": open_clean(root / "clean").fingerprint(), "images": 9, "source": "clean", "limit": None,
              "n": 9, "precision": "fp32", "num_classes": 3, "mean": list(MEAN), "std": list(STD)}
    with sqlite3.connect(out) as db:
        db.execute("UPDATE cells SET fingerprint = ? WHERE corruption = 'clean'", (json.dumps(legacy, sort_keys=True),))
    resumed = evaluate_named(tiny_model(), "c", root / "tiny-c", resize=256, **run)
    assert resumed["run_id"].tolist() == [1, 1] and clean_cell(resumed) == legacy
    with pytest.raises(UsageError, match=r"resize: stored None, now 232"):
        evaluate_named(tiny_model(), "c", root / "tiny-c", resize=232, **run)


def test_release_clean_protocol_reads_the_clean_counterpart_as_imagenet_c_test_py(root: Path) -> None:
    """Issue 28.4: a model whose own resize is 232 gets, with `clean_protocol="release"`, the clean cell of
    Resize 256 + CenterCrop 224 (hendrycks' test.py), fingerprint and predictions alike."""
    options = dict(C_CELLS, clean=root / "clean")
    release = evaluate_named(tiny_model(), "c", root / "tiny-c", resize=232, clean_protocol="release", **options)
    at_256 = evaluate_named(tiny_model(), "c", root / "tiny-c", resize=256, **options)
    own = evaluate_named(tiny_model(), "c", root / "tiny-c", resize=232, **options)
    assert clean_cell(release) == clean_cell(at_256) != clean_cell(own)
    clean = [frame.loc[frame["corruption"] == "clean", "predictions"].iloc[0] for frame in (release, at_256)]
    assert (clean[0] == clean[1]).all()
    with pytest.raises(UsageError, match="clean protocol 'release' applies to the clean counterpart"):
        evaluate_named(tiny_model(), "c", root / "clean", clean_protocol="release", **C_CELLS)


def test_summary_says_when_relative_mce_reads_clean_at_the_models_own_size(root: Path) -> None:
    """Issue 28.4: relative mCE of a released tree uses the clean cell at the model's own preprocessing; the note
    says so (naming the resize) and is absent at test.py's 256/224 or with --clean-protocol release."""
    from robustbench_lift.report.notes import clean_read_note

    options = dict(C_CELLS, clean=root / "clean")
    own = evaluate_named(tiny_model(), "c", root / "tiny-c", resize=232, **options)
    note = clean_read_note(own)
    assert "Resize 232, crop 224, bilinear" in note and "--clean-protocol release" in note
    assert clean_read_note(evaluate_named(tiny_model(), "c", root / "tiny-c", resize=256, **options)) is None
    assert clean_read_note(evaluate_named(tiny_model(), "c", root / "tiny-c", resize=232, clean_protocol="release",
                                          **options)) is None
    assert clean_read_note(evaluate_named(tiny_model(), "c", root / "clean", resize=232, **C_CELLS)) is None
