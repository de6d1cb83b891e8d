"""Click parameter types shared by the commands: a value out of range is a usage error when the options are
parsed (exit 2, naming the option), before any work starts."""

import click

POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
SEED = click.IntRange(0, 2**63 - 1)
"""Seeds reach torch (`manual_seed`, at most 64 bits) and NumPy generators; 63 bits stay non-negative in both."""
CLASSES = click.IntRange(1, 100_000)
"""Classes of a model's head: bounded so a typo cannot ask for a head of many gigabytes (ImageNet-21k has 21,841)."""
