"""`check --require-significant` with several models: a gate whose Holm family makes every bootstrap p too
large to count is refused with the resamples it needs, and a one-cell error is tested by McNemar's exact p.
Expected numbers come from the definitions (Holm's bound, scipy's binomial test), not from the code."""

import itertools

import pytest
from paired_fixtures import CELLS, N, cli, put_model, random_sets, with_extra
from scipy.stats import binomtest

from robustbench_lift.errors import UsageError
from robustbench_lift.report.gate import check
from robustbench_lift.report.significance import Significance, required_resamples

MODELS = [f"net-{i}" for i in range(6)]
STRICT = ("--tolerance", "clean_err=0,mean_err=0")


def six_models(tmp_path, cells=CELLS, suite: str = "c", regression=None) -> tuple[str, str]:
    """Baseline and run stores of six models on `cells`; in the run, net-0's wrong sets are `regression(base)`."""
    base, run = str(tmp_path / "base.db"), str(tmp_path / "run.db")
    for i, model in enumerate(MODELS):
        wrong = {cell: miss for cell, miss in random_sets(10 + i, 0.05).items() if cell in cells}
        put_model(base, model, wrong, suite=suite)
        put_model(run, model, regression(wrong) if model == "net-0" else wrong, suite=suite)
    return base, run


def forty_more_wrong(wrong: dict) -> dict:
    free = sorted(set(range(N)) - set().union(*wrong.values()))
    return with_extra(wrong, set(free[:40]))


def test_required_resamples_is_the_smallest_count_at_which_holm_can_reject():
    for pairs, alpha in ((1, 0.05), (2, 0.05), (12, 0.05), (30, 0.05), (30, 0.01), (7, 0.1)):
        needed = next(b for b in itertools.count(1) if pairs * 2 / (b + 1) < alpha)
        assert required_resamples(pairs, alpha) == needed
    assert required_resamples(30, 0.05) == 1200  # 60 / 1201 < 0.05 = 60 / 1200


def test_a_regression_beside_five_unchanged_models_is_refused_not_passed(tmp_path, capsys):
    """The regression fails the gate alone; beside five unchanged models the gate used to pass it (Holm over 12
    pairs lifts its bootstrap p of 2 / 201 to 0.12): now it refuses, naming the resamples that can fail it."""
    base, run = six_models(tmp_path, regression=forty_more_wrong)
    alone = ("check", "--baseline", str(tmp_path / "alone-base.db"), "--results", str(tmp_path / "alone-run.db"))
    wrong = {cell: miss for cell, miss in random_sets(10, 0.05).items()}
    put_model(tmp_path / "alone-base.db", "net-0", wrong)
    put_model(tmp_path / "alone-run.db", "net-0", forty_more_wrong(wrong))
    code, out, _ = cli(capsys, *alone, *STRICT, "--require-significant", "--n-boot", "200")
    assert code == 1 and out.count("REGRESSED") == 2
    gate = ("check", "--baseline", base, "--results", run, *STRICT, "--require-significant")
    needed = next(b for b in itertools.count(1) if 12 * 2 / (b + 1) < 0.05)  # 6 models x (clean_err, mean_err)
    for n_boot in ("200", str(needed - 1)):
        code, _, err = cli(capsys, *gate, "--n-boot", n_boot)
        assert code == 2 and f"--n-boot {needed} or more" in err and "12 (model, metric) pairs" in err
        assert len(err.strip().splitlines()) == 1
    code, out, _ = cli(capsys, *gate, "--n-boot", str(needed))
    assert code == 1 and "FAIL" in out
    regressed = [line.split()[:2] for line in out.splitlines() if "REGRESSED" in line]
    assert sorted(regressed) == [["net-0", "clean_err"], ["net-0", "mean_err"]]


def test_the_refusal_comes_before_any_resampling(tmp_path, monkeypatch):
    base, run = six_models(tmp_path, regression=forty_more_wrong)
    monkeypatch.setattr("robustbench_lift.report.significance.paired_comparison",
                        lambda *a, **k: pytest.fail("bootstrapped a gate that could never fail"))
    with pytest.raises(UsageError, match="--n-boot 480 or more"):
        check([run], base, "clean_err=0,mean_err=0", Significance(n_boot=479))


def test_a_clean_error_regression_fails_on_mcnemars_exact_p_at_any_resample_count(tmp_path, capsys):
    """Clean cells only: every p is McNemar's, so 10 resamples neither refuse nor blunt the gate. net-0 gets
    15 images wrong it had right and 3 right it had wrong: p = binomtest(3, 18) = 0.0075, Holm over 6: 0.045."""
    def swap(wrong: dict) -> dict:
        miss = wrong[("clean", 0)]
        right = sorted(set(range(N)) - miss)
        return {("clean", 0): (miss - set(sorted(miss)[:3])) | set(right[:15])}
    base, run = six_models(tmp_path, cells=[("clean", 0)], suite="clean", regression=swap)
    assert len(random_sets(10, 0.05)[("clean", 0)]) >= 3
    result = check([run], base, {"clean_err": 0}, Significance(n_boot=10))
    table = result.table().set_index("model")
    exact = binomtest(3, 18, 0.5).pvalue
    assert table.loc["net-0", "p_holm"] == pytest.approx(6 * exact, rel=1e-9) and 6 * exact < 0.05
    assert (table.drop("net-0")["p_holm"] == 1).all() and not result.passed
    assert [(c.model, c.metric) for c in result.regressions] == [("net-0", "clean_err")]
    code, out, _ = cli(capsys, "check", "--baseline", base, "--results", run, "--tolerance", "clean_err=0",
                       "--require-significant", "--n-boot", "10")
    assert code == 1 and "REGRESSED" in out
