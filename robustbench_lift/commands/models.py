"""`liftbench models`: the model zoo as a table, or where each pooling layer of one model sits."""

import json

import click


@click.command("models")
@click.option("--backbone", default=None, help="Only this backbone (e.g. resnet50, cifar_resnet18).")
@click.option("--pool", default=None, help="Only this pooling (e.g. lift); with --describe: the pooling to swap in.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--describe", metavar="MODEL", default=None, help="Show where each pooling layer of MODEL sits (a zoo "
              "name, torchvision:<name>, timm:<name> or a factory; with --pool: every site the swap changes).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="With --describe: keyword "
              "argument of the model builder (repeatable).")
def models(backbone: str | None, pool: str | None, as_json: bool, describe: str | None,
           model_args: tuple[str, ...]) -> None:
    """List zoo models: parameters, GFLOPs at the model's input size (torch.utils.flop_counter, 2 per MAC of
    convs and matmuls), pooling sites, and the known pretrained weights; or describe one model's pooling sites.

    \b
      liftbench models --describe resnet50-lift
      liftbench models --describe torchvision:resnet50 --pool lift
      liftbench models --describe timm:convnext_tiny --pool blur5
    """
    from robustbench_lift.models import list_models, model_spec
    from robustbench_lift.models.sources import describe as describe_model
    from robustbench_lift.models.sources import parse_model_args

    if describe:
        click.echo(describe_model(describe, pool=pool, model_args=parse_model_args(model_args)))
        return
    rows = [model_spec(name).summary() for name in list_models(backbone, pool)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["name"]) for row in rows)
    click.echo(f"{'model':<{width}}  {'input':>5}  {'params (M)':>10}  {'GFLOPs':>7}  {'sites':>5}  pretrained weights")
    for row in rows:
        click.echo(f"{row['name']:<{width}}  {row['input_size']:>5}  {row['params'] / 1e6:>10.2f}  "
                   f"{row['gflops']:>7.2f}  {row['sites']:>5}  {', '.join(row['weights']) or '-'}")
