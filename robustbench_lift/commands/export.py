"""`liftbench export`: one model's results as RobustBench, Hugging Face or flat CSV files."""

import click


@click.command("export")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True,
              help="robustbench (model_info JSON and unaggregated CSVs), hf (model card model-index and "
                   ".eval_results YAML) or csv (every cell, every model unless --model).")
@click.option("--model", default=None, help="The model to export (its report label); needed when RESULTS hold "
                                            "several.")
@click.option("--dataset", "datasets", multiple=True,
              help="Only rows of this data set (repeatable); needed when a model has several.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the files into (created if missing).")
def export_command(results: tuple[str, ...], fmt: str, model: str | None, datasets: tuple[str, ...],
                   out: str) -> None:
    """Export RESULTS stores for RobustBench's leaderboard, a Hugging Face model card, or a spreadsheet; every
    file names liftbench's version and the settings (precision, preset, on-the-fly or released data)."""
    from robustbench_lift.report.export import export, write_export
    from robustbench_lift.report.summary import load

    written = write_export(export(load(list(results), datasets=list(datasets) or None), fmt, model), out)
    click.echo(f"Wrote {', '.join(str(p) for p in written)}")
