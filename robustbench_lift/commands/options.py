"""Option parsers shared by the commands (no heavy imports: `liftbench --help` stays fast)."""

from corruptions.names import SEVERITIES
from robustbench_lift.errors import UsageError


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
            numbers.update(range(int(low), int(high or low) + 1))
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {expected}") from exc
    if not numbers or not numbers <= set(allowed):
        raise UsageError(f"{option} {text!r}: {expected}")
    return sorted(numbers)
