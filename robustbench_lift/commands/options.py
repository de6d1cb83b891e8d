"""Option parsers and Click parameter types shared by the commands (no heavy imports: `liftbench --help` stays
fast). A value out of range is a usage error when the options are parsed (exit 2, naming the option), before any
work starts."""

from typing import Any

import click

from corruptions.names import SEVERITIES
from robustbench_lift.errors import UsageError

POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
SEED = click.IntRange(0, 2**63 - 1)
"""Seeds reach torch (`manual_seed`, at most 64 bits) and NumPy generators; 63 bits stay non-negative in both."""
CLASSES = click.IntRange(1, 100_000)
"""Classes of a model's head: bounded so a typo cannot ask for a head of many gigabytes (ImageNet-21k has 21,841)."""


def parse_levels(text: str | None, option: str = "--severities", allowed: tuple[int, ...] = SEVERITIES
                 ) -> list[int] | None:
    """`"1,3,5"` or `"2-4"` -> sorted numbers among `allowed` (severities 1..5, or difficulties 1..3)."""
    if not text:
        return None
    numbers: set[int] = set()
    expected = f"expected numbers {allowed[0]}..{allowed[-1]} like 1,3 or 2-{allowed[-1]}"
    try:
        for token in (t.strip() for t in text.split(",") if t.strip()):
            low, _, high = token.partition("-")
            first, last = int(low), int(high or low)
            if not allowed[0] <= first <= last <= allowed[-1]:  # before expanding: "1-99999999999" is not a range
                raise ValueError(token)
            numbers.update(range(first, last + 1))
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {expected}") from exc
    if not numbers or not numbers <= set(allowed):
        raise UsageError(f"{option} {text!r}: {expected}")
    return sorted(numbers)


def model_args_callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    """Click callback of `--model-arg KEY=VALUE` (repeatable): `models.parse_model_args` of the values."""
    from robustbench_lift.models import parse_model_args

    return parse_model_args(value)


def weights_per_model(weights: tuple[str, ...], models: tuple[str, ...]) -> list[str | None]:
    """The `--weights` of each `--model`, in order (None for every model without any), or `UsageError` when
    some but not one per model are given."""
    if weights and len(weights) != len(models):
        raise UsageError(f"{len(weights)} --weights for {len(models)} --model: give one checkpoint per model")
    return list(weights) if weights else [None] * len(models)
