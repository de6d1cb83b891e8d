"""engine.input_cache: a study's models share each batch's inputs, with the numbers of runs without the cache."""

import numpy as np
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.engine.input_cache import InputCache
from robustbench_lift.suites.options import CorruptionOptions, PerturbationOptions

SUITES = [CorruptionOptions(corruptions=["gaussian_noise", "glass_blur", "fog"], severities=[2, 5], preset="cifar"),
          PerturbationOptions(perturbations=["gaussian_noise", "translate"], preset="cifar")]
MODELS = ("demo-max", "demo-lift")


def _predictions(model: str, run: RunOptions) -> dict[tuple, np.ndarray]:
    rows = evaluate(model, SUITES, "demo", run=run)
    return {(r.suite, r.corruption, r.severity): r.predictions for r in rows.itertuples()}


def test_second_model_reuses_every_batch_and_predicts_as_without_cache() -> None:
    cache = InputCache()
    run = RunOptions(limit=5, batch_size=4, progress=False, input_cache=cache)
    shared = {m: _predictions(m, run) for m in MODELS}
    first_misses = cache.misses
    assert cache.hits == first_misses > 0 and cache.misses == first_misses  # the second model made nothing
    for model in MODELS:
        alone = _predictions(model, RunOptions(limit=5, batch_size=4, progress=False))
        assert shared[model].keys() == alone.keys()
        for cell, predictions in alone.items():
            np.testing.assert_array_equal(shared[model][cell], predictions, err_msg=f"{model} {cell}")


def test_other_seed_misses_and_budget_bounds_what_is_kept() -> None:
    cache = InputCache(max_bytes=0)
    run = RunOptions(limit=3, batch_size=4, progress=False, input_cache=cache)
    evaluate("demo-max", SUITES[:1], "demo", run=run)
    assert cache.bytes == 0 and cache.hits == 0  # nothing fits a zero budget, nothing is reused
    cache = InputCache()
    evaluate("demo-max", SUITES[:1], "demo", run=RunOptions(limit=3, progress=False, input_cache=cache))
    misses = cache.misses
    evaluate("demo-max", SUITES[:1], "demo", run=RunOptions(limit=3, seed=1, progress=False, input_cache=cache))
    assert cache.hits == 1 and cache.misses == 2 * misses - 1  # only the clean batch: it does not depend on the seed


def test_key_ignores_the_model_side_of_the_fingerprint() -> None:
    indices = torch.tensor([3, 7])
    cell = ("fog", 2)
    base = {"data": "abc", "seed": 0, "input_size": 32}
    a = InputCache.key({**base, "mean": [0.5] * 3, "precision": "fp32", "num_classes": 10}, cell, indices)
    b = InputCache.key({**base, "mean": [0.4] * 3, "precision": "bf16", "num_classes": 1000}, cell, indices)
    assert a == b
    assert a != InputCache.key({**base, "seed": 1}, cell, indices)
    assert a != InputCache.key(base, cell, torch.tensor([3, 8]))
