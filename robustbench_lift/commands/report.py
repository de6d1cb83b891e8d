"""`liftbench report`, `liftbench compare` and `liftbench check`: reports, side-by-side tables, the CI gate."""

from pathlib import Path

import click

from robustbench_lift.commands.options import SEED
from robustbench_lift.report import FORMATS, TOLERANCE_SPEC_HELP

_dataset = click.option("--dataset", "datasets", multiple=True,
                        help="Only rows of this data set (repeatable); needed when a model has several.")
_n_boot = click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=0),
                       help="Bootstrap resamples for the 95% CIs (0: no CIs).")
_seed = click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the bootstrap.")
_store = click.Path(dir_okay=False)


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=_store)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the report into.")
@click.option("--baseline", default=None, help="Model for the difference table (e.g. resnet50-max).")
@click.option("--format", "formats", default=",".join(("md", "html", "csv", "tex")), show_default=True,
              help=f"Comma-separated output formats among {', '.join(FORMATS)}.")
@click.option("--example-image", type=click.Path(dir_okay=False), default=None,
              help="Photo for the corruption grid (default: scikit-image's 'chelsea' when installed).")
@click.option("--no-grid", is_flag=True, help="Skip the corruption example grid.")
@_dataset
@_n_boot
@_seed
def report_command(results: tuple[str, ...], out: str, baseline: str | None, formats: str,
                   example_image: str | None, no_grid: bool, datasets: tuple[str, ...], n_boot: int,
                   seed: int) -> None:
    """Write tables, figures and a self-contained HTML page from RESULTS stores."""
    from robustbench_lift.report.build import build_report

    written = build_report(list(results), out, baseline=baseline,
                           formats=[f.strip() for f in formats.split(",") if f.strip()],
                           example_image=example_image, grid=not no_grid, n_boot=n_boot, seed=seed,
                           datasets=list(datasets) or None)
    page = next((p for p in written if p.name == "report.html"), None)
    click.echo(f"Wrote {len(written)} files to {out}" + (f"; open {page}" if page else ""))


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--results", multiple=True, type=_store,
              help="Results store(s) holding models A and B (repeatable). Without it, A and B are two stores.")
@click.option("--model", default=None, help="With two stores: the model to compare when they hold several.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@_dataset
@_n_boot
@_seed
def compare_command(a: str, b: str, results: tuple[str, ...], model: str | None, fmt: str,
                    datasets: tuple[str, ...], n_boot: int, seed: int) -> None:
    """Set models A and B (or runs A and B) side by side: values, 95% CIs, delta B - A, whether it leaves A's CI."""
    from robustbench_lift.report.compare import compare
    from robustbench_lift.report.tables import render

    table = compare(a, b, results=list(results) or None, model=model, n_boot=n_boot, seed=seed,
                    datasets=list(datasets) or None)
    if fmt == "md":
        click.echo(table.attrs["title"])
    click.echo(render(table, fmt), nl=False)


@click.command("check")
@click.option("--results", multiple=True, required=True, type=_store, help="Results store(s) of the run.")
@click.option("--baseline", required=True, type=click.Path(dir_okay=False),
              help="Baseline JSON, e.g. reports/demo/baseline.json.")
@click.option("--tolerance", default=None, help=f"Points per metric: {TOLERANCE_SPEC_HELP}.")
@click.option("--update", is_flag=True, help="Write or rewrite the baseline from this run instead of checking.")
def check_command(results: tuple[str, ...], baseline: str, tolerance: str | None, update: bool) -> None:
    """Gate a run on a baseline JSON: exit 1 when a tracked metric is worse by more than its tolerance, else 0."""
    from robustbench_lift.report.check import check, update_baseline

    if update:
        data = update_baseline(list(results), baseline, tolerance)
        click.echo(f"Wrote {Path(baseline)}: {len(data['metrics'])} model(s), tolerances "
                   + ", ".join(f"{m}={t:g}" for m, t in data["tolerance"].items()))
        return
    outcome = check(list(results), baseline, tolerance)
    click.echo(outcome.format())
    if not outcome.passed:
        click.get_current_context().exit(1)
