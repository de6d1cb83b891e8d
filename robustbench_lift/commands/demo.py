"""`liftbench demo`: every shipped demo model on the built-in demo set, all suites, then the report."""

import click


@click.command("demo")
@click.option("--out", default="reports/demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for results.db and the report.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N images (sequences for p) per cell: a reduced, "
              "fixed subset.  [default: c 200, p 50, shift 200, seg 200]")
@click.option("--pool", "pools", multiple=True, help="Only the demo model of this pooling (repeatable).")
@click.option("--suite", "suites", multiple=True, help="Only this suite of the demo (repeatable; an unknown one "
              "is an error listing them).  [default: every demo suite]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:i].")
@click.option("--amp", is_flag=True, help="Autocast bf16 (fp16 on a GPU without bf16) instead of fp32.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write tables, figures and HTML.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(out: str, limit: int | None, pools: tuple[str, ...], suites: tuple[str, ...], device: str, amp: bool,
         report: bool, progress: bool) -> None:
    """Evaluate the demo models (one per pooling, shipped) under every corruption and severity, the perturbation
    sequences and shift consistency, and the segmentation demo models (suite seg), on the procedural demo test
    set; write the report to --out.

    \b
      liftbench demo                                   # reports/demo/report.html
      liftbench demo --limit 100 --no-report --out /tmp/ci && \\
        liftbench check --results /tmp/ci/results.db --baseline reports/demo/baseline.json
    """
    from robustbench_lift.demo import run_demo
    from robustbench_lift.report.summary import summary_table
    from robustbench_lift.report.tables import SUMMARIES, render, task_summary

    written = run_demo(out, limit=limit, pools=pools or None, suites=suites or None, device=device, amp=amp,
                       report=report, progress=progress)
    summary = summary_table(written[0], ci=False)
    for task, _ in SUMMARIES.values():  # one table per task, as in the report
        part = task_summary(summary, task)
        if not part.empty:
            click.echo(f"{task.capitalize()} summary (%):\n{render(part, 'md')}")
    page = next((p for p in written if p.name == "report.html"), None)
    click.echo(f"results: {written[0]}" + (f"\nreport: {page}" if page else ""))
