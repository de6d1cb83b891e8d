"""Paired statistics against hand-computed examples, scipy's binomial test and independent loop transcriptions."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.bootstrap import bootstrap_means
from robustbench_lift.metrics.corruption import corruption_summary
from robustbench_lift.metrics.paired import (
    CellData,
    bootstrap_p_value,
    check_pairing,
    error_consistency,
    holm,
    mcnemar_cell,
    mcnemar_exact,
    paired_bootstrap,
)


def exact_mcnemar_by_sum(b: int, c: int) -> float:
    """2 P(X <= min(b, c)), X ~ Bin(b + c, 1/2), in exact rational arithmetic."""
    n = b + c
    return min(1.0, float(2 * Fraction(sum(comb(n, i) for i in range(min(b, c) + 1)), 2 ** n)))


def test_mcnemar_hand_examples():
    assert mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024, rel=1e-12)  # 22 / 1024
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(2, 5) == pytest.approx(2 * (1 + 7 + 21) / 128, rel=1e-12)  # 58 / 128
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32, rel=1e-12)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 1) == 1.0
    for b, c in [(0, 30), (7, 40), (120, 160), (400, 401)]:
        assert mcnemar_exact(b, c) == pytest.approx(exact_mcnemar_by_sum(b, c), rel=1e-10)


def test_mcnemar_matches_scipy_binomtest_up_to_50k():
    stats = pytest.importorskip("scipy.stats")
    cases = [(0, 1), (4, 17), (100, 130), (480, 520), (2400, 2600), (12345, 12600), (24000, 26000),
             (24900, 25100), (25000, 25000), (0, 60)]
    for b, c in cases:
        expected = stats.binomtest(min(b, c), b + c, 0.5).pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300), (b, c)


def test_mcnemar_rejects_bad_counts():
    for counts in [(-1, 3), (2.5, 3)]:
        with pytest.raises(UsageError, match="integers >= 0"):
            mcnemar_exact(*counts)


def test_mcnemar_cell_counts_known_disagreements():
    correct_a, correct_b = np.ones(100, bool), np.ones(100, bool)
    correct_a[0:20] = False  # A wrong on 0..19
    correct_b[10:25] = False  # B wrong on 10..24: A alone wrong on 0..9, B alone wrong on 20..24
    cell = mcnemar_cell(correct_a, correct_b)
    assert (cell.n, cell.a_err, cell.b_err, cell.a_only_wrong, cell.b_only_wrong) == (100, 20, 15, 10, 5)
    # 2 P(X <= 5), X ~ Bin(15, 1/2) = 2 (1 + 15 + 105 + 455 + 1365 + 3003) / 2^15
    assert cell.p == pytest.approx(2 * 4944 / 32768, rel=1e-12)
    assert mcnemar_cell(correct_a.astype(int), correct_b.astype(int)) == cell
    with pytest.raises(UsageError, match="equal, non-empty shape"):
        mcnemar_cell(correct_a, correct_b[:50])
    with pytest.raises(UsageError, match="boolean or 0/1"):
        mcnemar_cell(correct_a * 2, correct_b)


def test_bootstrap_p_value_by_hand():
    assert bootstrap_p_value(np.array([-1.0, 1, 2, 3])) == pytest.approx(2 * 2 / 5)  # one <= 0 of four
    assert bootstrap_p_value(np.array([1.0, 2, 3, 4])) == pytest.approx(2 / 5)
    assert bootstrap_p_value(np.array([-1.0, 1.0, np.nan])) == 1.0
    assert bootstrap_p_value(np.zeros(9)) == 1.0
    assert np.isnan(bootstrap_p_value(np.array([np.nan])))
    assert bootstrap_p_value(np.array([1e-15, 2e-16, 3.0])) == 1.0  # float rounding of equal aggregates: ties


CELLS = [("clean", 0), ("fog", 1), ("fog", 3), ("snow", 2)]


def aggregate(means: np.ndarray) -> dict[str, np.ndarray]:
    """clean_err and corruption_summary's aggregates of columns ordered as CELLS, the way summary uses them."""
    errors = {cell: means[..., j] for j, cell in enumerate(CELLS) if cell[0] != "clean"}
    return {"clean_err": means[..., 0], **corruption_summary(errors, means[..., 0])}


def correlated_errors(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """0/1 errors of two models sharing image difficulty, per column of CELLS."""
    rng = np.random.default_rng(seed)
    hard = rng.uniform(size=n)
    a = [(hard + rng.normal(0, 0.2, n) > 0.7 - 0.1 * j).astype(float) for j in range(len(CELLS))]
    b = [(hard + rng.normal(0, 0.2, n) > 0.72 - 0.1 * j).astype(float) for j in range(len(CELLS))]
    return a, b


def test_paired_bootstrap_matches_an_independent_loop():
    values_a, values_b = correlated_errors(150, seed=4)
    n_boot, seed, n = 300, 11, 150
    rng = np.random.default_rng(seed)  # one multinomial draw per replicate, shared by A, B and every column
    deltas: dict[str, list[float]] = {}
    for _ in range(n_boot):
        w = rng.multinomial(n, np.full(n, 1 / n))
        mean_a = np.array([np.sum(w * v) / n for v in values_a])
        mean_b = np.array([np.sum(w * v) / n for v in values_b])
        agg_a, agg_b = aggregate(mean_a), aggregate(mean_b)
        for metric in agg_a:
            deltas.setdefault(metric, []).append(float(agg_b[metric] - agg_a[metric]))
    result = paired_bootstrap(values_a, values_b, aggregate, n_boot=n_boot, seed=seed, level=0.9)
    assert list(result) == list(deltas) and "mCE" in result and "rel_mCE" in result
    for metric, loop in deltas.items():
        loop = np.array(loop)
        a = float(aggregate(np.array([v.mean() for v in values_a]))[metric])
        b = float(aggregate(np.array([v.mean() for v in values_b]))[metric])
        below, above = np.sum(loop <= 1e-12), np.sum(loop >= -1e-12)  # within 1e-12 of 0: rounding, a tie
        got = result[metric]
        assert (got.a, got.b) == (pytest.approx(a, rel=1e-12), pytest.approx(b, rel=1e-12))
        assert got.delta == pytest.approx(b - a, rel=1e-12, abs=1e-15)
        assert got.ci == pytest.approx(tuple(np.percentile(loop, [5, 95])), rel=1e-9, abs=1e-12)
        assert got.p == pytest.approx(min(1, 2 * (min(below, above) + 1) / (n_boot + 1)))


def test_paired_replicates_of_a_are_the_unpaired_summary_draws():
    values_a, values_b = correlated_errors(120, seed=5)
    seen = []
    paired_bootstrap(values_a, values_b, lambda m: seen.append(m) or {"x": m[..., 0]}, n_boot=250, seed=2)
    replicates = [m for m in seen if m.ndim == 2]
    np.testing.assert_array_equal(replicates[0], bootstrap_means(values_a, 250, 2))
    np.testing.assert_array_equal(replicates[1], bootstrap_means(values_b, 250, 2))


def test_identical_models_give_zero_delta_and_p_one():
    values, _ = correlated_errors(80, seed=6)
    for result in (paired_bootstrap(values, values, aggregate, n_boot=200).values(),
                   paired_bootstrap([values[0], values[1][:50]], [values[0], values[1][:50]],
                                    lambda m: {"sum": m.sum(-1)}, n_boot=200).values()):
        for delta in result:
            assert delta.delta == 0 and delta.ci == (0.0, 0.0) and delta.p == 1.0


def test_pairing_keeps_units_together_across_lengths():
    """B = A + 0.1 on every unit: every replicate's delta is 0.1 only if A and B share each unit's draws."""
    rng = np.random.default_rng(7)
    a = [rng.uniform(size=60), rng.uniform(size=60), rng.uniform(size=25)]
    result = paired_bootstrap(a, [x + 0.1 for x in a], lambda m: {f"c{j}": m[..., j] for j in range(3)}, 200)
    for delta in result.values():
        assert delta.delta == pytest.approx(0.1) and delta.ci == pytest.approx((0.1, 0.1))
        assert delta.p == pytest.approx(2 / 201)


def test_known_improvement_on_a_set_of_images():
    n, n_boot = 2000, 400
    wrong_a = (np.arange(n) % 4 == 0).astype(float)  # 500 errors
    wrong_b = wrong_a.copy()
    wrong_b[:120:4] = 0  # B right on 30 of A's errors, the same elsewhere
    result = paired_bootstrap([wrong_a], [wrong_b], lambda m: {"err": m[..., 0]}, n_boot=n_boot)["err"]
    assert (result.a, result.b, result.delta) == (0.25, 0.235, pytest.approx(-30 / n))
    assert result.ci[1] < 0 and result.p == pytest.approx(2 / (n_boot + 1))  # no replicate reaches 0
    cell = mcnemar_cell(wrong_a == 0, wrong_b == 0)
    assert (cell.a_only_wrong, cell.b_only_wrong, cell.a_err, cell.b_err) == (30, 0, 500, 470)
    assert cell.p == pytest.approx(2 * 0.5 ** 30, rel=1e-12)


def test_paired_bootstrap_refuses_unpaired_columns():
    with pytest.raises(UsageError, match="column 1"):
        paired_bootstrap([np.zeros(5), np.zeros(5)], [np.zeros(5), np.zeros(4)], lambda m: {"x": m[..., 0]})
    with pytest.raises(UsageError, match="same number"):
        paired_bootstrap([np.zeros(5)], [], lambda m: {"x": m[..., 0]})


def test_holm_by_hand():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 -> max(0.06, 0.04)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.02, np.nan, 0.04]), [0.04, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_holm_rejects_what_the_sequential_procedure_rejects():
    rng = np.random.default_rng(8)
    for _ in range(50):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 12))
        adjusted = holm(p)
        for alpha in (0.01, 0.05, 0.1):
            rejected = set()
            for rank, i in enumerate(np.argsort(p)):  # reject while p_(k) <= alpha / (m - k + 1)
                if p[i] > alpha / (len(p) - rank):
                    break
                rejected.add(int(i))
            assert set(np.flatnonzero(adjusted <= alpha)) == rejected


def test_error_consistency_by_hand_and_from_the_two_by_two_table():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 1])
    b = np.array([1, 1, 0, 0, 1, 1, 0, 1, 1, 0])
    # c_obs = 0.7, c_exp = 0.7 * 0.6 + 0.3 * 0.4 = 0.54, kappa = 0.16 / 0.46
    assert error_consistency(a, b) == pytest.approx(8 / 23)
    rng = np.random.default_rng(9)
    for _ in range(20):
        x, y = rng.uniform(size=(2, 300)) < rng.uniform(0.2, 0.9, size=(2, 1))
        both, x_only, y_only, neither = (np.sum(x & y), np.sum(x & ~y), np.sum(~x & y), np.sum(~x & ~y))
        table = 2 * (both * neither - x_only * y_only) / ((both + x_only) * (x_only + neither)
                                                            + (both + y_only) * (y_only + neither))
        assert error_consistency(x, y) == pytest.approx(table)
    ones, zeros = np.ones(8, bool), np.zeros(8, bool)
    assert error_consistency(ones, ones) == 1.0 and error_consistency(zeros, zeros) == 1.0
    assert error_consistency(ones, zeros) == 0.0
    half = np.arange(10) % 2
    assert error_consistency(half, 1 - half) == pytest.approx(-1.0)


def pairing_cells(n: int = 6, **settings) -> dict:
    fingerprint = {"data": "abc", "limit": None, "n": n, "seed": 0, "precision": "fp32", "mean": [0.5], **settings}
    labels = np.arange(n) % 3
    return {("c", "imagenet", "fog", 1): CellData(labels, fingerprint),
            ("c", "imagenet", "clean", 0): CellData(labels, {**fingerprint, "source": "clean"})}


def test_check_pairing_accepts_the_same_images_and_settings():
    assert check_pairing(pairing_cells(), pairing_cells(mean=[0.4])) == list(pairing_cells())


def test_check_pairing_names_what_differs():
    a = pairing_cells()
    with pytest.raises(UsageError, match=r"cell c/imagenet/fog/1: settings differ: precision \(A 'fp32', B 'bf16'\)"):
        check_pairing(a, pairing_cells(precision="bf16"))
    with pytest.raises(UsageError, match=r"limit \(lift None, blur 4\), n \(lift 6, blur 4\).*lift has 6 images, "
                                         r"blur 4"):
        check_pairing(a, pairing_cells(4, limit=4), names=("lift", "blur"))
    shuffled = {cell: CellData(d.labels[::-1], d.fingerprint) for cell, d in a.items()}
    with pytest.raises(UsageError, match=r"labels differ on 4 of 6 images \(first at image 0: A 0, B 2\)"):
        check_pairing(a, shuffled)
    with pytest.raises(UsageError, match=r"seed \(A 0, B 1\)"):
        check_pairing(a, pairing_cells(seed=1))
    with pytest.raises(UsageError, match=r"A has cells B lacks: c/imagenet/clean/0"):
        check_pairing(a, {k: v for k, v in a.items() if k[2] != "clean"})
