"""Paired comparisons through `compare`, `check` and `report`: stores whose models are wrong on known sets of
images, so counts, p-values and the behaviour of the paired bootstrap follow from set arithmetic, scipy's
binomial test and the definition of Cohen's kappa, independently of `robustbench_lift`."""

import json

import numpy as np
import pytest
from paired_fixtures import CELLS, N, cli, put_model, random_sets, with_extra
from report_fixtures import all_by_hand, write_store
from scipy.stats import binomtest

from robustbench_lift.errors import UsageError
from robustbench_lift.report import figures
from robustbench_lift.report.build import build_report
from robustbench_lift.report.comparison import compare
from robustbench_lift.report.tables import render, report_tables


def test_identical_models_give_zero_delta_and_p_one_in_json(tmp_path, capsys):
    store = tmp_path / "r.db"
    for model in ("net-a", "net-b"):
        put_model(store, model, random_sets(0, 0.2))
    code, out, _ = cli(capsys, "compare", "net-a", "net-b", "--results", str(store), "--json", "--n-boot", "50")
    data = json.loads(out)
    assert code == 0 and set(data) == {"a", "b", "metrics", "cells"} and (data["a"], data["b"]) == ("net-a", "net-b")
    assert set(data["metrics"]) == {"clean_err", "mean_err"}  # 10 classes: no AlexNet normalisation
    assert (data["metrics"]["clean_err"]["test"], data["metrics"]["mean_err"]["test"]) == ("McNemar exact",
                                                                                        "bootstrap")
    for values in data["metrics"].values():
        assert set(values) == {"a", "b", "delta", "ci", "p", "p_holm", "test"}
        assert values["delta"] == 0 and values["ci"] == [0, 0] and values["p"] == 1 and values["p_holm"] == 1
    assert len(data["cells"]) == len(CELLS)
    for cell in data["cells"]:
        assert list(cell) == ["suite", "dataset", "corruption", "severity", "n", "a_err", "b_err", "a_only_wrong",
                              "b_only_wrong", "p"]
        assert cell["a_only_wrong"] == cell["b_only_wrong"] == 0 and cell["p"] == 1 and cell["n"] == N


def test_known_disagreements_give_known_counts_binomtest_p_and_kappa(tmp_path):
    store = tmp_path / "r.db"
    wrong_a, wrong_b = random_sets(1, 0.25), random_sets(2, 0.2)
    put_model(store, "net-a", wrong_a)
    put_model(store, "net-b", wrong_b)
    comparison = compare("net-a", "net-b", results=[store], n_boot=20)
    assert len(comparison.cells) == len(CELLS)
    for row in comparison.cells.to_dict("records"):
        a, b = wrong_a[(row["corruption"], row["severity"])], wrong_b[(row["corruption"], row["severity"])]
        only_a, only_b = len(a - b), len(b - a)
        assert (row["n"], row["a_err"], row["b_err"]) == (N, len(a), len(b))
        assert (row["a_only_wrong"], row["b_only_wrong"]) == (only_a, only_b)
        assert row["p"] == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue, rel=1e-9)
        both_right = N - len(a | b)
        observed = (both_right + len(a & b)) / N
        expected = (1 - len(a) / N) * (1 - len(b) / N) + len(a) / N * len(b) / N
        assert row["kappa"] == pytest.approx((observed - expected) / (1 - expected))
    clean = comparison.metrics.loc["clean_err"]
    a, b = wrong_a[("clean", 0)], wrong_b[("clean", 0)]
    assert (clean["a"], clean["b"]) == pytest.approx((100 * len(a) / N, 100 * len(b) / N))
    # one cell's error: its p is McNemar's exact one (the sign test on the discordant images), not the bootstrap's
    assert clean["p"] == pytest.approx(binomtest(len(a - b), len(a ^ b), 0.5).pvalue, rel=1e-9)
    assert clean["test"] == "McNemar exact" and comparison.metrics.loc["mean_err", "test"] == "bootstrap"


def test_the_same_images_are_resampled_for_both_models_and_every_cell(tmp_path):
    store = tmp_path / "r.db"
    base = random_sets(3, 0.05)
    extra = set(range(0, N, 4)) - set().union(*base.values())  # images A gets right everywhere
    assert len(extra) >= 10
    put_model(store, "net-a", base)
    put_model(store, "net-b", with_extra(base, extra))
    n_boot = 99
    worse = compare("net-a", "net-b", results=[store], n_boot=n_boot).metrics
    # B is wrong wherever A is, plus on `extra`: every replicate that draws one of them has delta > 0, and a
    # replicate missing all of >= 10 of 200 images has probability < 1e-4, so p is its floor 2 / (B + 1); the
    # clean error's exact McNemar p has no floor: B alone wrong on len(extra) images, 2 / 2 ** len(extra).
    assert (worse["ci_lo"] > 0).all() and worse.loc["mean_err", "p"] == pytest.approx(2 / (n_boot + 1))
    assert worse.loc["clean_err", "p"] == pytest.approx(binomtest(0, len(extra), 0.5).pvalue, rel=1e-9)
    # B worse on `extra` under noise and better on it under snow, by the same count: the mean error over the
    # cells is equal in every replicate only when both cells are resampled with the same images.
    snow = {cell for cell in CELLS if cell[0] == "snow"}
    noise = {cell for cell in CELLS if cell[0] == "gaussian_noise"}
    put_model(store, "net-c", with_extra(base, extra, snow))
    put_model(store, "net-d", with_extra(base, extra, noise))
    swapped = compare("net-c", "net-d", results=[store], n_boot=n_boot).metrics.loc["mean_err"]
    assert (swapped["delta"], swapped["ci_lo"], swapped["ci_hi"]) == pytest.approx((0, 0, 0), abs=1e-12)
    assert swapped["p"] == 1  # float rounding of equal sums does not count as a difference


def test_every_suite_aggregate_is_paired_with_the_report_definitions(tmp_path):
    comparison = compare("resnet-max", "resnet-lift", results=[write_store(tmp_path / "all.db")], n_boot=20)
    a, b = all_by_hand("resnet-max"), all_by_hand("resnet-lift")
    assert list(comparison.metrics.index) == list(a)  # c, p and shift metrics, in report order
    for metric, row in comparison.metrics.iterrows():
        assert (row["a"], row["b"], row["delta"]) == pytest.approx((a[metric], b[metric], b[metric] - a[metric]))
        assert row["ci_lo"] <= row["delta"] <= row["ci_hi"] and row["p"] <= row["p_holm"] <= 1
    assert set(comparison.cells["suite"]) == {"c", "shift"}  # p cells hold sequences, not one top-1 per image
    assert list(comparison.corruptions.index) == ["contrast", "defocus_blur", "gaussian_noise", "snow"]


def test_two_runs_of_one_model_are_paired_by_image(tmp_path):
    base = random_sets(6, 0.05)
    free = sorted(set(range(N)) - set().union(*base.values()))
    put_model(tmp_path / "old.db", "net", base)
    put_model(tmp_path / "old.db", "other", base)
    put_model(tmp_path / "new.db", "net", with_extra(base, set(free[:5]), [("snow", 3)]))
    comparison = compare(str(tmp_path / "old.db"), str(tmp_path / "new.db"), model="net", n_boot=20)
    assert comparison.names == ("A: net (old.db)", "B: net (new.db)")
    snow = comparison.cells.query("corruption == 'snow' and severity == 3").iloc[0]
    assert (snow["a_only_wrong"], snow["b_only_wrong"], snow["p"]) == (0, 5, pytest.approx(2 / 2 ** 5))
    with pytest.raises(UsageError, match="choose one with --model"):
        compare(str(tmp_path / "old.db"), str(tmp_path / "new.db"))


def test_other_images_are_refused_even_with_allow_mixed(tmp_path):
    store = tmp_path / "r.db"
    put_model(store, "net-a", random_sets(0, 0.2))
    shuffled = np.random.default_rng(0).permutation(np.arange(N) % 10)
    put_model(store, "shuffled", random_sets(0, 0.2), labels=shuffled)
    put_model(store, "fewer", {cell: set() for cell in CELLS}, labels=np.arange(N - 1) % 10)
    put_model(store, "other-data", random_sets(0, 0.2), data="photos-v2")
    for model, message in (("shuffled", "labels differ"), ("fewer", f"has {N} images, fewer {N - 1}"),
                           ("other-data", r"data \(net-a 'photos-v1', other-data 'photos-v2'\)")):
        for allow_mixed in (False, True):
            with pytest.raises(UsageError, match=message):
                compare("net-a", model, results=[store], n_boot=10, allow_mixed=allow_mixed)


def test_mixed_precision_is_refused_unless_allowed(tmp_path, capsys):
    store = tmp_path / "r.db"
    put_model(store, "net-a", random_sets(0, 0.2))
    put_model(store, "net-bf16", random_sets(0, 0.2), precision="bf16")
    with pytest.raises(UsageError, match="precision .net-a 'fp32', net-bf16 'bf16'"):
        compare("net-a", "net-bf16", results=[store], n_boot=10)
    assert compare("net-a", "net-bf16", results=[store], n_boot=10, allow_mixed=True).mixed == ["precision"]
    argv = ("compare", "net-a", "net-bf16", "--results", str(store), "--n-boot", "10")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "--allow-mixed" in err
    code, out, err = cli(capsys, *argv, "--allow-mixed")
    assert code == 0 and "differ in precision" in err and "| metric | net-a | net-bf16 | delta" in out


def test_check_require_significant_passes_noise_and_fails_a_real_regression(tmp_path, capsys):
    base = random_sets(4, 0.05)
    free = sorted(set(range(N)) - set().union(*base.values()))
    assert len(free) >= 40
    put_model(tmp_path / "base.db", "net", base)
    put_model(tmp_path / "tiny.db", "net", with_extra(base, set(free[:2]), [("snow", 1)]))
    put_model(tmp_path / "large.db", "net", with_extra(base, set(free[:40])))
    put_model(tmp_path / "bf16.db", "net", base, precision="bf16")
    strict = ("--tolerance", "clean_err=0,mean_err=0", "--n-boot", "200")
    gate = ("check", "--baseline", str(tmp_path / "base.db"), *strict)
    code, out, _ = cli(capsys, *gate, "--results", str(tmp_path / "tiny.db"))
    assert code == 1 and "REGRESSED" in out  # worse by 0.2 points > 0 tolerance
    # 2 of 200 images worse in one cell: about 13% of the replicates draw neither, so p is about 0.27
    code, out, _ = cli(capsys, *gate, "--results", str(tmp_path / "tiny.db"), "--require-significant")
    assert code == 0 and "worse (not significant)" in out and "PASS" in out
    code, out, _ = cli(capsys, *gate, "--results", str(tmp_path / "large.db"), "--require-significant")
    assert code == 1 and "REGRESSED" in out and "p_holm" in out  # p = 2 / 201, Holm over 2 metrics: 0.02
    code, _, err = cli(capsys, *gate, "--results", str(tmp_path / "bf16.db"))
    assert code == 2 and "precision" in err
    code, out, _ = cli(capsys, *gate, "--results", str(tmp_path / "bf16.db"), "--allow-mixed")
    assert code == 0 and "PASS" in out
    json_baseline = str(tmp_path / "baseline.json")
    assert cli(capsys, "check", "--results", str(tmp_path / "base.db"), "--baseline", json_baseline, "--update")[0] == 0
    assert json.loads((tmp_path / "baseline.json").read_text())["settings"] == {"net": {"num_classes": 10,
                                                                                        "precision": "fp32"}}
    code, _, err = cli(capsys, "check", "--results", str(tmp_path / "bf16.db"), "--baseline", json_baseline)
    assert code == 2 and "precision (baseline 'fp32', run 'bf16')" in err  # the JSON records the settings
    assert cli(capsys, "check", "--results", str(tmp_path / "bf16.db"), "--baseline", json_baseline,
               "--allow-mixed")[0] == 0
    code, _, err = cli(capsys, "check", "--results", str(tmp_path / "large.db"), "--baseline", json_baseline,
                       "--require-significant")
    assert code == 2 and "per-image predictions" in err and "results store" in err


def test_report_baseline_shows_paired_cis_significance_and_a_forest_plot(tmp_path):
    store = tmp_path / "r.db"
    base = random_sets(5, 0.05)
    free = sorted(set(range(N)) - set().union(*base.values()))
    extra = set(free[:30])
    put_model(store, "base", base)
    put_model(store, "worse", with_extra(base, extra))
    put_model(store, "same", base)
    tables = report_tables(store, baseline="base", n_boot=99)
    deltas, significant = tables["deltas"]
    assert deltas.loc["worse", "mean_err_lo"] > 0 and significant.loc["worse", "mean_err"]
    assert (deltas.loc["same", "mean_err_lo"], deltas.loc["same", "mean_err_hi"]) == (0, 0)
    assert not significant.loc["same"].any() and not significant.loc["base"].any()
    assert len(extra) == 30 and f"**{100 * 30 / N:.1f} [" in render(deltas, "md", significant)
    corruption_deltas = tables["corruption_deltas"][0]
    assert list(corruption_deltas.index) == ["gaussian_noise", "snow"]
    assert corruption_deltas.loc["snow", "worse"] == pytest.approx(100 * 30 / N)
    fig = figures.forest_plot(corruption_deltas)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["gaussian_noise", "snow"]
    written = build_report(store, tmp_path / "out", baseline="base", n_boot=50, grid=False, formats=["md", "html"])
    svg = tmp_path / "out" / "figures" / "forest.svg"
    assert svg in written and (tmp_path / "out" / "figures" / "forest.png").is_file()
    assert all(svg.read_text().count(f">{name}<") == 1 for name in ("gaussian_noise", "snow"))
    assert "Paired difference per corruption" in (tmp_path / "out" / "report.html").read_text()
