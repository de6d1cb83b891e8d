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
@click.option("--er-fit", "er_fits", multiple=True, metavar="SET=SLOPE,INTERCEPT",
              help="Measure effective robustness on ood set SET from this line, logit(ood) = SLOPE logit(id) + "
                   "INTERCEPT (e.g. a published fit), instead of the fit over the models (repeatable).")
@_dataset
@_n_boot
@_seed
def report_command(results: tuple[str, ...], out: str, baseline: str | None, formats: str,
                   example_image: str | None, no_grid: bool, er_fits: tuple[str, ...], datasets: tuple[str, ...],
                   n_boot: int, seed: int) -> None:
    """Write tables, figures and a self-contained HTML page from RESULTS stores."""
    from robustbench_lift.report.build import build_report
    from robustbench_lift.report.ood import parse_er_fits

    written = build_report(list(results), out, baseline=baseline,
                           formats=[f.strip() for f in formats.split(",") if f.strip()],
                           example_image=example_image, grid=not no_grid, n_boot=n_boot, seed=seed,
                           datasets=list(datasets) or None, er_fits=parse_er_fits(er_fits))
    page = next((p for p in written if p.name == "report.html"), None)
    click.echo(f"Wrote {len(written)} files to {out}" + (f"; open {page}" if page else ""))


_allow_mixed = click.option("--allow-mixed", is_flag=True,
                            help="Accept cells evaluated with different settings (precision, preset, ...); "
                                 "never different images.")
_alpha = click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True),
                      help="Significance level for Holm-adjusted paired p-values.")


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--results", multiple=True, type=_store,
              help="Results store(s) holding models A and B (repeatable). Without it, A and B are two stores.")
@click.option("--model", default=None, help="With two stores: the model to compare when they hold several.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of tables.")
@_allow_mixed
@_alpha
@_dataset
@_n_boot
@_seed
def compare_command(a: str, b: str, results: tuple[str, ...], model: str | None, fmt: str, as_json: bool,
                    allow_mixed: bool, alpha: float, datasets: tuple[str, ...], n_boot: int, seed: int) -> None:
    """Compare models A and B (or runs A and B) image by image: paired deltas B - A with 95% CIs, Holm p-values,
    verdicts, and per cell the exact McNemar test and error consistency."""
    import json

    from robustbench_lift.report.comparison import cell_table, compare, metric_table
    from robustbench_lift.report.tables import render

    comparison = compare(a, b, results=list(results) or None, model=model, n_boot=n_boot, seed=seed,
                         datasets=list(datasets) or None, allow_mixed=allow_mixed)
    if comparison.mixed:
        click.echo(f"Note: --allow-mixed: A and B differ in {', '.join(comparison.mixed)}", err=True)
    if as_json:
        click.echo(json.dumps(comparison.to_json(), indent=2))
        return
    for table in (metric_table(comparison, alpha), cell_table(comparison)):
        if table.empty:
            continue
        if fmt == "md":
            click.echo(table.attrs["title"])
        click.echo(render(table, fmt), nl=False)
        if fmt == "md":
            click.echo()


@click.command("check")
@click.option("--results", multiple=True, required=True, type=_store, help="Results store(s) of the run.")
@click.option("--baseline", required=True, type=click.Path(dir_okay=False),
              help="Baseline JSON (e.g. reports/demo/baseline.json), or the baseline run's results store, which "
                   "also pairs the run with it image by image.")
@click.option("--tolerance", default=None, help=f"Points per metric: {TOLERANCE_SPEC_HELP}.")
@click.option("--update", is_flag=True, help="Write or rewrite the baseline JSON from this run instead of checking.")
@click.option("--require-significant", is_flag=True,
              help="Count a regression only when its paired p-value (Holm) is below --alpha; needs a results-store "
                   "baseline.")
@_alpha
@_allow_mixed
@_n_boot
@_seed
def check_command(results: tuple[str, ...], baseline: str, tolerance: str | None, update: bool,
                  require_significant: bool, alpha: float, allow_mixed: bool, n_boot: int, seed: int) -> None:
    """Gate a run on a baseline: exit 1 when a tracked metric is worse by more than its tolerance (and, with
    --require-significant, significantly so), else 0."""
    from robustbench_lift.report.gate import check, update_baseline
    from robustbench_lift.report.significance import Significance

    if update:
        data = update_baseline(list(results), baseline, tolerance)
        click.echo(f"Wrote {Path(baseline)}: {len(data['metrics'])} model(s), tolerances "
                   + ", ".join(f"{m}={t:g}" for m, t in data["tolerance"].items()))
        return
    significance = Significance(alpha, n_boot, seed) if require_significant else None
    outcome = check(list(results), baseline, tolerance, significance, allow_mixed)
    click.echo(outcome.format())
    if not outcome.passed:
        click.get_current_context().exit(1)
