"""`liftbench report --er-fit SET=SLOPE,INTERCEPT`, `--n-boot` and `--seed` reach the effective robustness table
(ER against a line given by hand, computed with `math`), a malformed `--er-fit` is one line with exit 2, and
`compare` / `check` read the ood metrics `id_err/<set>`, `ood_err/<set>` from the command line."""

import json
import math

import pandas as pd
import pytest
from test_cli_options import invoke
from test_effective_robustness import hand_er, write_ood_store

from robustbench_lift.report.ood import effective_robustness_table

ACCURACY = {"m-a": (0.60, 0.45), "m-b": (0.70, 0.55), "m-c": (0.80, 0.70)}
"""model -> (ImageNet accuracy, ImageNet-V2 accuracy), multiples of 1 / 200."""
WORSE = {**ACCURACY, "m-a": (0.60, 0.30)}
"""m-a with 15 points lower ImageNet-V2 accuracy."""


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("erfit")
    return root, write_ood_store(root / "a.db", ACCURACY, "imagenet-v2"), write_ood_store(root / "b.db", WORSE,
                                                                                          "imagenet-v2")


def er_table(root, store, *options: str) -> pd.DataFrame:
    out = root / "-".join(options).replace("=", "_").replace(",", "_")
    code, output = invoke(["report", str(store), "--out", str(out), "--no-grid", "--format", "csv", *options])
    assert code == 0, output
    return pd.read_csv(out / "tables" / "effective_robustness.csv", index_col="model")


@pytest.mark.parametrize("slope, intercept", [(1.0, 0.0), (0.9, -0.5)])
def test_er_is_measured_from_the_given_line(stores, slope, intercept):
    root, store, _ = stores
    table = er_table(root, store, "--er-fit", f"imagenet-v2={slope},{intercept}", "--n-boot", "200", "--seed", "3")
    for model, (id_acc, ood_acc) in ACCURACY.items():
        row = table.loc[model]
        # On the line y = x, ER is the accuracy drop itself; any line: ood - expit(slope logit(id) + intercept).
        expected = ood_acc - id_acc if slope == 1.0 else hand_er(id_acc, ood_acc, slope, intercept)
        assert row["ER"] == pytest.approx(100 * expected, abs=1e-4)
        assert row["ER_lo"] < row["ER"] < row["ER_hi"] and row["fit"] == "given"
    # --n-boot and --seed are the table's: its bounds are the API's with seed 3, not with the old fixed seed 0.
    fits = {"imagenet-v2": (slope, intercept)}
    api = effective_robustness_table(store, fits, n_boot=200, seed=3)
    assert table["ER_lo"].to_numpy() == pytest.approx(api["ER_lo"].to_numpy(), abs=1e-4)
    assert not (effective_robustness_table(store, fits, n_boot=200, seed=0)["ER_lo"] == api["ER_lo"]).all()


def test_no_resamples_no_interval_and_the_fit_over_the_models(stores):
    root, store, _ = stores
    table = er_table(root, store, "--n-boot", "0")
    assert table[["ER_lo", "ER_hi"]].isna().all().all() and set(table["fit"]) == {"models"}
    x = [math.log(i / (1 - i)) for i, _ in ACCURACY.values()]
    y = [math.log(o / (1 - o)) for _, o in ACCURACY.values()]
    mx, my = sum(x) / 3, sum(y) / 3
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    for model, (id_acc, ood_acc) in ACCURACY.items():
        assert table.loc[model, "ER"] == pytest.approx(100 * hand_er(id_acc, ood_acc, slope, my - slope * mx),
                                                       abs=1e-4)


@pytest.mark.parametrize("value", ["imagenet-v2=1.0", "imagenet-v2", "imagenet-v2=a,b", "imagenet-v2=nan,0",
                                   "imagenet-v2=1,2,3", "imagenetv2=1,0", "imagenet-r=1,0"])
def test_a_malformed_er_fit_is_one_line(stores, value):
    root, store, _ = stores
    code, output = invoke(["report", str(store), "--out", str(root / "bad"), "--no-grid", "--er-fit", value])
    assert code == 2 and len(output.strip().splitlines()) == 1 and "Traceback" not in output, output
    assert not (root / "bad").exists()


def test_twice_the_same_set_is_refused(stores):
    root, store, _ = stores
    code, output = invoke(["report", str(store), "--out", str(root / "twice"), "--er-fit", "imagenet-v2=1,0",
                           "--er-fit", "imagenet-v2=0.9,0"])
    assert code == 2 and "twice" in output


def test_compare_and_check_read_the_ood_metrics(stores):
    root, a, b = stores
    code, output = invoke(["compare", str(a), str(b), "--model", "m-a", "--json", "--n-boot", "50"])
    assert code == 0, output
    metrics = json.loads(output)["metrics"]
    assert metrics["ood_err/imagenet-v2"]["delta"] == pytest.approx(100 * (0.45 - 0.30))
    assert metrics["id_err/imagenet-v2"]["delta"] == pytest.approx(0.0)
    baseline = root / "baseline.json"
    assert invoke(["check", "--results", str(a), "--baseline", str(baseline), "--update"])[0] == 0
    assert json.loads(baseline.read_text())["metrics"]["m-b"] == pytest.approx(
        {"id_err/imagenet-v2": 30.0, "ood_err/imagenet-v2": 45.0})
    assert invoke(["check", "--results", str(a), "--baseline", str(baseline)])[0] == 0
    code, output = invoke(["check", "--results", str(b), "--baseline", str(baseline)])
    assert code == 1 and "m-a ood_err/imagenet-v2 worse by 15.00" in output, output
