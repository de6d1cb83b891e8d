"""`--config study.yaml`: a command's options from a YAML mapping, so a whole study is one reviewed file.

Keys are the long option names without the dashes (`model`, `weights`, `data`, `corruptions`, `batch-size`, a
flag's own name with true or false: `amp: true`, `progress: false`), a list for a repeatable option (`model:
[demo-lift, demo-max]`) or for a comma-separated one (`severities: [1, 3]`). Options given on the command line win
over the file, the file over the defaults (Click's `default_map`). The file is read with `yaml.safe_load` (data
only, never code), and every value is checked as the option itself would check it before anything runs.
"""

import difflib
from pathlib import Path
from typing import Any

import click

from robustbench_lift.errors import UsageError

HELP = ("YAML file of options: keys are the long option names (model, data, batch-size, ...), lists "
        "for repeatable options; options on the command line win.")


def config_option() -> click.Option:
    """The `--config` option of a command: eager, so its values are the defaults of every other option."""
    return click.Option(["--config"], type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
                        callback=_load, help=HELP)


def _load(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    import yaml

    path = Path(value)
    where = f"--config {path}"
    if not path.is_file():
        raise UsageError(f"{where}: no such file; give the path of a YAML file of options")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(f"{where}: not valid YAML ({detail}); fix the file") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping of option names to values (model: demo-lift), got "
                         f"{type(data).__name__}")
    options = {opt[2:]: p for p in ctx.command.params if isinstance(p, click.Option)
               and p.name not in ("help", "config") for opt in p.opts if opt.startswith("--")}
    defaults = {}
    for key, item in data.items():
        if key not in options:
            close = difflib.get_close_matches(str(key).replace("_", "-"), options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{where}: unknown key {key!r}{hint}; expected long option names of `{ctx.info_name}`, "
                             f"e.g. {', '.join(list(options)[:4])}")
        if item is not None:  # `key:` with no value leaves the option unset
            defaults[options[key].name] = _checked(ctx, options[key], item, f"{where}: key {key!r}")
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _checked(ctx: click.Context, option: click.Option, value: Any, where: str) -> Any:
    """`value` as the option takes it from a default (a tuple if repeatable), checked by the option's own type
    and parser; a value of the wrong kind is a `UsageError` naming `where` and what is expected."""
    from robustbench_lift.commands.fields import CommaList

    if isinstance(value, list) and not option.multiple and not isinstance(option.type, CommaList):
        raise UsageError(f"{where}: takes one value, not a list")
    for item in value if isinstance(value, list) else [value]:
        if option.is_flag != isinstance(item, bool):
            expected = "true or false" if option.is_flag else "a number or text, not true/false"
            raise UsageError(f"{where}: expected {expected}, got {item!r}")
        if isinstance(item, dict | list):
            raise UsageError(f"{where}: expected a value or a list of values, got {item!r}")
        if isinstance(item, float) and isinstance(option.type, click.types.IntParamType):
            raise UsageError(f"{where}: expected an integer, got {item!r}")
    if option.multiple:
        value = tuple(value) if isinstance(value, list) else (value,)
    try:
        option.process_value(ctx, value)
    except (click.BadParameter, UsageError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        raise UsageError(f"{where}: {message}") from exc
    return value
