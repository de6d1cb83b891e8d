"""Click options generated from the fields of the typed option dataclasses (`engine.options`, `suites.options`,
`training.recipe`), so a command's options, their parameter names and their defaults come from one place, and a
new field cannot be forgotten by the command line (`field_options` refuses a field it was told nothing about).

The command line decides, per field, only what is the command line's: the spelling (`--<name>`, underscores as
dashes, unless the spec gives `decls`), the help, the Click type, and whether to show the field's default."""

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import click


class CommaList(click.ParamType):
    """Text such as `fog,noise` or `1,3-5`; in a config file also a list (`[fog, noise]`, `[1, 3]`), joined with
    commas, so both spellings reach the option's parser the same way."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, list | tuple):
            return ",".join(map(str, value))
        return value if isinstance(value, str) else str(value)


COMMA_LIST = CommaList()


def field_options(classes: Sequence[type], specs: Mapping[str, Mapping[str, Any]],
                  hidden: Collection[str] = ()) -> list[click.Option]:
    """One `click.Option` per field of the dataclasses `classes` (in field order, a name shared by several
    classes once), named as the field, with the Click attributes `specs[name]` (`decls`: the spelling, default
    `--<name-with-dashes>`); with `show_default` and no `default` the field's own default is the option's, else an
    option left unset is None (the field's default then applies). A field in neither `specs` nor `hidden`, or a
    spec of no field, is a `TypeError` when the command is defined."""
    fields: dict[str, dataclasses.Field] = {}
    for cls in classes:
        for field in dataclasses.fields(cls):
            fields.setdefault(field.name, field)
    names = list(fields)
    missing = [n for n in names if n not in specs and n not in hidden]
    stale = sorted(set(specs) - set(names))
    if missing or stale:
        raise TypeError(f"command-line options: no decision for field(s) {missing}, specs of no field {stale}")
    options = []
    for name in (n for n in names if n not in hidden):
        attrs = dict(specs[name])
        decls = attrs.pop("decls", (f"--{name.replace('_', '-')}",))
        if attrs.get("show_default") and "default" not in attrs:
            attrs["default"] = fields[name].default
        options.append(click.Option([*decls, name], **attrs))
    return options


def typed(cls: type, params: Mapping[str, Any]) -> Any:
    """`cls(**...)` from the command's parameters named as its fields; None (unset) keeps the field's default."""
    return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls) if params.get(f.name) is not None})


class FieldCommand(click.Command):
    """A command whose parameters `make_params()` makes on first use: its options come from dataclasses of
    packages that import torch, so defining it (and `liftbench --help`) imports nothing heavy."""

    def __init__(self, *args: Any, make_params: Callable[[], list[click.Parameter]], **kwargs: Any) -> None:
        self._make, self._params = make_params, None
        super().__init__(*args, **kwargs)

    @property
    def params(self) -> list[click.Parameter]:
        if self._params is None:
            self._params = self._make()
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        if value:
            raise TypeError("a FieldCommand's parameters come from make_params")
