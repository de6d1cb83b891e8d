"""`liftbench probe <probe>`: measurements inside a model on clean images, into the results store (`probes`).

One subcommand per probe; `aliasing` (`probes.aliasing.probe_aliasing`, docs/aliasing.md) takes every model
`evaluate` takes, through the same options (`ModelOptions`, and the `RunOptions` a probe uses).
"""

from pathlib import Path
from typing import Any

import click

from robustbench_lift.commands.config import config_option
from robustbench_lift.commands.evaluate import MODEL_FIELDS, RUN_FIELDS
from robustbench_lift.commands.fields import FieldCommand, field_options, typed
from robustbench_lift.commands.options import POSITIVE, weights_per_model

PROBE_LIMIT = 256
"""Default images of `liftbench probe aliasing`: evenly spaced over the data set (a probe of all 50,000 ImageNet
validation images would take a GPU-hour for a few digits more)."""
PROBE_RUN_FIELDS = {**{k: v for k, v in RUN_FIELDS.items() if k in ("batch_size", "device", "seed", "out")},
                    "limit": dict(type=POSITIVE, default=PROBE_LIMIT, show_default=True,
                                  help="Evenly spaced clean images."),
                    "overwrite": dict(is_flag=True, help="Measure again sites stored with the same settings.")}


def _params() -> list[click.Parameter]:
    from robustbench_lift.engine.options import ModelOptions, RunOptions

    return [
        config_option(),
        click.Option(["--model", "models"], multiple=True, required=True, help="Zoo name, torchvision:<name>, "
                     "timm:<name>, path/to/file.py:factory or package.module:factory (repeat for several)."),
        *field_options([ModelOptions], MODEL_FIELDS, hidden={"name", "mean", "std"}),
        click.Option(["--data"], required=True, help="Clean images: a class folder, CIFAR test pickles or 'demo'."),
        *field_options([RunOptions], PROBE_RUN_FIELDS, hidden={"workers", "amp", "tf32", "channels_last", "compile",
                                                              "chunk", "progress", "input_cache"}),
    ]


@click.group()
def probe() -> None:
    """Measure inside models on clean images into a results store (`liftbench report` draws it)."""


@probe.command("aliasing", cls=FieldCommand, make_params=_params)
def aliasing(models: tuple[str, ...], data: str, **fields: Any) -> None:
    """Aliasing at every down-sampling site (Ribeiro & Schoen 2021, docs/aliasing.md): per site, the share of the
    stride-1 map's energy that 2x decimation folds into the output band, and the per-bin classes.

    Sites already in --out measured with the same settings are reused; each model's sites are written in one
    transaction.

    \b
      liftbench probe aliasing --model demo-max --model demo-blur --weights DEFAULT --weights DEFAULT --data demo
      liftbench probe aliasing --model torchvision:resnet50 --weights IMAGENET1K_V2 --pool blur --data val
      liftbench report results.db --out report        # section "Aliasing per down-sampling site"
    """
    import dataclasses

    from robustbench_lift.engine.options import ModelOptions, RunOptions
    from robustbench_lift.probes.aliasing import probe_aliasing

    weights = weights_per_model(fields.pop("weights"), models)
    run, described = typed(RunOptions, fields), typed(ModelOptions, fields)
    for model, weight in zip(models, weights):
        frame = probe_aliasing(model, data, run, dataclasses.replace(described, weights=weight))
        shares = ", ".join(f"{row.site} {100 * row.aliased_share:.1f}%" if row.form == "polyphase" else
                           f"{row.site} ({row.form})" for row in frame.itertuples())
        click.echo(f"{model}: aliased share per site: {shares or 'no down-sampling site'}")
    click.echo(f"results: {Path(run.out).resolve()}")
