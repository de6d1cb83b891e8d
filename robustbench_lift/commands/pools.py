"""`liftbench pools`: the registered pooling layers."""

import click


@click.command()
@click.option("--channels", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="Channel count for the parameter column (1..4096).")
def pools(channels: int) -> None:
    """List the pooling layers with a one-line description and their parameter count."""
    from robustbench_lift.pooling import create_pool, list_pools, pool_description

    rows = [(name, sum(p.numel() for p in create_pool(name, channels).parameters()), pool_description(name))
            for name in list_pools()]
    width = max(len(name) for name, _, _ in rows)
    click.echo(f"{'pool':<{width}}  {'params@' + str(channels):>10}  description")
    for name, n_params, description in rows:
        click.echo(f"{name:<{width}}  {n_params:>10,}  {description}")
