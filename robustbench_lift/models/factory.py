"""A user's own network: `path/to/file.py:factory` or `package.module:factory`, called with keyword arguments.

A factory is any callable returning an `nn.Module`; `--model-arg key=value` options become its keyword arguments
(`parse_model_args`). A file is imported once per process under a private module name derived from its path.
"""

import ast
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError


def parse_model_args(items: Iterable[str]) -> dict[str, Any]:
    """`["depth=18", "width=0.5", "name=x"]` -> `{"depth": 18, "width": 0.5, "name": "x"}`: each value a Python
    literal (`ast.literal_eval`: numbers, True/None, tuples, quoted strings), else the text itself."""
    args: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier() or key in args:
            problem = "a duplicate key" if key in args else "not key=value with a Python identifier as key"
            raise UsageError(f"model argument {item!r} is {problem}, e.g. depth=18")
        try:
            args[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            args[key] = text
    return args


def factory_name(target: str) -> str:
    """`target` with its file path normalised (`./nets/a.py:f` -> `nets/a.py:f`); `UsageError` if malformed."""
    location, sep, factory = target.rpartition(":")
    if not sep or not location or not factory.isidentifier():
        raise UsageError(f"model {target!r}: expected path/to/file.py:factory or package.module:factory")
    return f"{Path(location).as_posix() if location.endswith('.py') else location}:{factory}"


def _load_factory(target: str) -> Callable[..., nn.Module]:
    location, _, attribute = factory_name(target).rpartition(":")
    if location.endswith(".py"):
        path = Path(location).resolve()
        if not path.is_file():
            raise UsageError(f"model factory file {location!r} does not exist")
        module_name = f"_liftbench_factory_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        if module_name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module  # so that dataclasses and pickling inside the file find it
            try:
                module_spec.loader.exec_module(module)
            except BaseException as exc:
                del sys.modules[module_name]
                if isinstance(exc, Exception):  # the user's file failed; Ctrl-C and exits pass through
                    raise UsageError(f"model factory file {location} failed to import: {_one_line(exc)}") from exc
                raise
        module = sys.modules[module_name]
    else:
        try:
            module = importlib.import_module(location)
        except Exception as exc:  # a missing module, or its own code failing (a SyntaxError, a raise)
            raise UsageError(f"cannot import {location!r} for model {target!r}: {_one_line(exc)}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UsageError(f"{location} has no callable {attribute!r}; "
                         f"callables: {', '.join(n for n, v in vars(module).items() if callable(v) and n[0] != '_')}")
    return factory


def _one_line(exc: BaseException) -> str:
    """`"TypeError: message"` on one line (a SyntaxError's own text names its file and line)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def call_factory(target: str, kwargs: dict[str, Any]) -> nn.Module:
    """`factory(**kwargs)` of `target`, checked to be an `nn.Module`; `UsageError` for a bad target or arguments."""
    factory = _load_factory(target)
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise UsageError(f"{target} takes {inspect.signature(factory)}, not {kwargs}: {exc}") from exc
    except ValueError:  # no signature to check (a builtin): let the call decide
        pass
    try:
        model = factory(**kwargs)
    except Exception as exc:  # the user's code, or a layer rejecting a --model-arg value (num_classes=-3)
        listed = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
        raise UsageError(f"model factory {target}({listed}) raised {_one_line(exc)}; check the factory and "
                         "its --model-arg values") from exc
    if not isinstance(model, nn.Module):
        raise UsageError(f"{target} returned {type(model).__name__}, not an nn.Module")
    return model
