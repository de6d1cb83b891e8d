"""The `liftbench` command line: a thin shell over the Python API.

Each feature's commands live in `robustbench_lift.commands.<feature>`; this module assembles the group and turns
the project's exceptions into a one-line message with exit code 2 (usage error) or 1 (failure).
"""

import sys
import warnings

import click

from robustbench_lift import __version__
from robustbench_lift.commands.demo import demo
from robustbench_lift.commands.evaluate import evaluate
from robustbench_lift.commands.export import export_command
from robustbench_lift.commands.models import models
from robustbench_lift.commands.pools import pools
from robustbench_lift.commands.probe import probe
from robustbench_lift.commands.render import render
from robustbench_lift.commands.report import check_command, compare_command, report_command
from robustbench_lift.commands.train import train
from robustbench_lift.commands.validate import validate_data_command
from robustbench_lift.errors import LiftbenchError, UsageError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liftbench")
def cli() -> None:
    """LiftPool and the pooling robustness benchmark."""


cli.add_command(pools)
cli.add_command(models)
cli.add_command(evaluate)
cli.add_command(probe)
cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(check_command)
cli.add_command(export_command)
cli.add_command(render)
cli.add_command(train)
cli.add_command(demo)
cli.add_command(validate_data_command)


def _warn_in_one_line(message: Warning | str, *args: object, **kwargs: object) -> None:
    """`warnings.showwarning` of the CLI: `Warning: <message>`, without Python's file, line and source line."""
    click.echo(f"Warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, mapping errors to exit codes 2 (usage) and 1 (failure)."""
    try:
        with warnings.catch_warnings():  # restores Python's own display after the command
            warnings.showwarning = _warn_in_one_line
            exit_code = cli.main(args=argv, prog_name="liftbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except UsageError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except (LiftbenchError, OSError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    # Without standalone mode click returns the code of `ctx.exit(code)`; commands themselves return None.
    sys.exit(exit_code if isinstance(exit_code, int) else 0)
