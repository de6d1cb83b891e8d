"""`liftbench export`: every format read back and compared with the store's cells, by hand-computed numbers.

The store: model "net-a" on "ImageNet-C" (1000 classes, corrupted on the fly) with a clean cell (5 of 20 wrong),
RobustBench's 15 corruptions at severities 1-5 (`WRONG_A`: severity + i % 3 wrong for the i-th corruption, so
the mean error is 300 / 1500 = 0.2) and 3 of 3DCC's 12 (2 wrong each); model "net-b" on released data with a
clean cell and fog only. RobustBench's layout: tests/data/robustbench/ holds the two header rows of their
`model_info/imagenet/corruptions/unaggregated_results{,_3d}.csv` (RobustBench/robustbench at 78fcc9e) and a
made-up row, read as their `eval.py` reads it (`header=[0, 1], index_col=0`).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixtures import N_IMAGES, cell_arrays, model_sha

from robustbench_lift import __version__
from robustbench_lift.cli import main
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.corruption import ALEXNET_ERRORS
from robustbench_lift.report.export import export, write_export
from robustbench_lift.report.summary import load
from robustbench_lift.store import CellResult, ResultStore, load_results

LAYOUT = Path(__file__).parent / "data" / "robustbench"
CORRUPTIONS = pd.read_csv(LAYOUT / "unaggregated_results.csv", header=[0, 1], index_col=0).columns \
    .get_level_values(0).unique().tolist()
"""RobustBench's 15, in their files' order (from the recorded layout, not from the code under test)."""
WRONG_A = {(c, s): s + i % 3 for i, c in enumerate(CORRUPTIONS) for s in range(1, 6)}
WRONG_A |= {(c, s): 2 for c in ("iso_noise", "low_light", "color_quant") for s in range(1, 6)}
WRONG_B = {("fog", s): 4 for s in range(1, 6)}
ON_THE_FLY = {"num_classes": 1000, "precision": "fp32", "preset": "imagenet", "source": "on-the-fly"}
RELEASED = {"num_classes": 1000, "precision": "bf16", "source": "imagenet-c"}


def _put(store: ResultStore, model: str, dataset: str, corruption: str, severity: int, wrong: int,
         fingerprint: dict) -> None:
    labels, predictions = cell_arrays(wrong)
    store.put_cell(CellResult(model, model_sha(model), "c", dataset, corruption, severity, labels, predictions,
                              wrong / N_IMAGES, 0.0, fingerprint, 1.0))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "results.db"
    with ResultStore(path) as results:
        for model, dataset, wrong, fingerprint in (("net-a", "ImageNet-C", WRONG_A, ON_THE_FLY),
                                                   ("net-b", "imagenet-c", WRONG_B, RELEASED)):
            _put(results, model, dataset, "clean", 0, 5, {**fingerprint, "source": "clean"})
            for (corruption, severity), count in wrong.items():
                _put(results, model, dataset, corruption, severity, count, fingerprint)
    return path


def _read(files: dict[str, str], tmp_path: Path) -> dict[str, Path]:
    return {name: path for name, path in zip(files, write_export(files, tmp_path))}


def expected_mce() -> float:
    """mCE by hand: per corruption sum of errors / sum of AlexNet's (severities 1-5), averaged over the 15."""
    return float(np.mean([sum(WRONG_A[c, s] / N_IMAGES for s in range(1, 6)) / sum(ALEXNET_ERRORS[c])
                          for c in CORRUPTIONS]))


def test_robustbench_json_fields_as_their_files_write_them(store, tmp_path):
    files = export(load(store), "robustbench", "net-a")
    assert set(files) == {"net-a.json", "unaggregated_results.csv", "unaggregated_results_3d.csv"}
    info = pd.read_json(_read(files, tmp_path)["net-a.json"], typ="series", dtype=False)
    assert info["name"] == "net-a" and info["architecture"] == "net-a" and info["dataset"] == "imagenet"
    assert info["clean_acc"] == "75.0"           # 1 - 5/20, as their "100.0": str(round(x, 2))
    assert info["corruptions_acc"] == "80.0"     # 1 - 300/1500
    assert info["corruptions_mce"] == str(round(100 * expected_mce(), 2))
    assert "corruptions_acc_3d" not in info and "corruptions_mce_3d" not in info   # 3 of 3DCC's 12: no number
    assert info["liftbench"]["liftbench_version"] == __version__
    assert info["liftbench"]["precision"] == "fp32" and info["liftbench"]["data"] == "on-the-fly"
    assert "not the released benchmark" in info["footnote"] and f"liftbench {__version__}" in info["footnote"]


def test_robustbench_partial_model_omits_fields_never_zero(store, tmp_path):
    files = export(load(store), "robustbench", "net-b")
    assert set(files) == {"net-b.json", "unaggregated_results.csv"}       # no 3DCC cell: no 3D file
    info = pd.read_json(_read(files, tmp_path)["net-b.json"], typ="series", dtype=False)
    assert info["clean_acc"] == "75.0"
    assert not {"corruptions_acc", "corruptions_mce", "corruptions_acc_3d"} & set(info.index)
    assert info["liftbench"]["data"] == "imagenet-c" and info["liftbench"]["precision"] == "bf16"
    assert info["footnote"].endswith("released data (imagenet-c)")
    table = pd.read_csv(_read(files, tmp_path)["unaggregated_results.csv"], header=[0, 1], index_col=0)
    assert table.loc["net-b", "fog"].tolist() == [0.8] * 5
    assert table[[c for c in CORRUPTIONS if c != "fog"]].isna().all().all()   # not evaluated: empty, not 0


@pytest.mark.parametrize("name", ["unaggregated_results.csv", "unaggregated_results_3d.csv"])
def test_robustbench_csv_has_their_layout_and_the_store_accuracies(store, tmp_path, name):
    theirs = pd.read_csv(LAYOUT / name, header=[0, 1], index_col=0)
    ours = pd.read_csv(_read(export(load(store), "robustbench", "net-a"), tmp_path)[name], header=[0, 1],
                       index_col=0)
    assert ours.columns.tolist() == theirs.columns.tolist()              # their order, two header rows
    text = (tmp_path / name).read_text().splitlines()
    assert text[:2] == (LAYOUT / name).read_text().splitlines()[:2]      # byte for byte
    both = pd.concat([theirs, ours])                                    # as their eval.py appends a model
    assert both.shape == (2, theirs.shape[1])
    cells = load_results(store)
    for cell in cells[(cells["model"] == "net-a") & (cells["corruption"] != "clean")].itertuples():
        if (cell.corruption, str(cell.severity)) in ours.columns:
            assert ours.loc["net-a", (cell.corruption, str(cell.severity))] == pytest.approx(1 - cell.top1_err)
    if name.endswith("_3d.csv"):
        assert ours.loc["net-a", "iso_noise"].tolist() == [0.9] * 5
        assert ours.loc["net-a", "near_focus"].isna().all()


def test_hf_model_index_and_eval_results_match_the_store(store, tmp_path):
    paths = _read(export(load(store), "hf", "net-a"), tmp_path)
    text = paths["model-index.yaml"].read_text()
    assert text.startswith(f"# liftbench export of net-a: liftbench {__version__}; precision fp32")
    (entry,) = yaml.safe_load(text)["model-index"]
    (result,) = entry["results"]
    assert entry["name"] == "net-a" and result["task"]["type"] == "image-classification"
    assert result["dataset"]["type"] == "ImageNet-C" and "on the fly" in result["dataset"]["name"]
    assert result["dataset"]["args"]["preset"] == "imagenet"
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    assert set(metrics) == {"clean_err", "mCE", "rel_mCE", "mean_err", "mean_err/3dcc"}
    assert metrics["clean_err"] == 25.0 and metrics["mean_err"] == 20.0 and metrics["mean_err/3dcc"] == 10.0
    assert metrics["mCE"] == pytest.approx(100 * expected_mce(), abs=1e-4)
    entries = yaml.safe_load(paths[".eval_results/liftbench.yaml"].read_text())
    assert {e["dataset"]["task_id"]: e["value"] for e in entries} == metrics       # one entry per metric
    assert all(e["dataset"]["id"] == "ImageNet-C" and "not the released" in e["notes"] for e in entries)


def test_flat_csv_holds_every_cell_with_its_settings(store, tmp_path):
    table = pd.read_csv(_read(export(load(store), "csv"), tmp_path)["cells.csv"])
    cells = load_results(store)
    assert len(table) == len(cells) == 1 + len(WRONG_A) + 1 + len(WRONG_B)
    merged = cells.merge(table, on=["model", "suite", "dataset", "corruption", "severity"], suffixes=("", "_csv"))
    assert len(merged) == len(cells)
    assert (merged["weights_sha256"] == merged["weights_sha256_csv"]).all() and (merged["n_csv"] == 20).all()
    np.testing.assert_allclose(merged["top1_err_csv"], merged["top1_err"])
    assert merged["precision"].tolist() == [f["precision"] for f in merged["fingerprint"]]
    assert merged["source"].tolist() == [f["source"] for f in merged["fingerprint"]]
    assert (table["liftbench_version"].astype(str) == __version__).all()


def test_several_models_need_model(store, tmp_path, capsys):
    for fmt in ("robustbench", "hf"):
        with pytest.raises(UsageError, match=r"2 models \(net-a, net-b\); choose one with --model"):
            export(load(store), fmt)
    with pytest.raises(UsageError, match="unknown model 'net-c'"):
        export(load(store), "hf", "net-c")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(store), "--format", "robustbench", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "net-a, net-b" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(store), "--format", "robustbench", "--model", "net-a", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 0 and (tmp_path / "o" / "net-a.json").is_file()


def test_robustbench_needs_one_data_set_of_corruption_cells(store):
    frame = load(store)
    net_a = frame[frame["model"] == "net-a"]
    twice = pd.concat([frame, net_a.assign(dataset="ImageNet-C-copy")], ignore_index=True)
    with pytest.raises(UsageError, match=r"several data sets \(ImageNet-C, ImageNet-C-copy\); choose one with "
                                         "--dataset"):
        export(twice, "robustbench", "net-a")
    assert "net-a.json" in export(load(twice, datasets=["ImageNet-C-copy"]), "robustbench", "net-a")
    with pytest.raises(UsageError, match="evaluate it with `liftbench evaluate --suite c` first"):
        export(frame.assign(suite=frame["suite"].where(frame["model"] != "net-a", "clean")), "robustbench", "net-a")
