"""One small registry for every kind of plug-in: poolings, backbones, corruptions, perturbations, suites.

    >>> POOLS = Registry("pooling")
    >>> @POOLS.register("max", description="max pooling")
    ... def build_max(channels): ...
    >>> POOLS.get("max")                 # the builder
    <function build_max at 0x...>
    >>> POOLS.get("mxa")
    Traceback (most recent call last):
    robustbench_lift.errors.UsageError: unknown pooling 'mxa': expected one of max; did you mean max?

An entry is an object, or a `"module:attribute"` string imported on first `get`, so a registry of names and
metadata (families, subsets, descriptions) can be read without importing torch. Names keep registration order;
registering a name twice is an error.
"""

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from robustbench_lift.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one `kind` ("pooling", "corruption", ...) with free-form metadata per entry."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    def register(self, name: str, entry: T | str | None = None, **metadata: Any) -> Any:
        """Register `entry` (an object or a lazy `"module:attribute"`) under `name`; without `entry`, a decorator."""
        if entry is None:
            def decorate(obj: T) -> T:
                self.register(name, obj, **metadata)
                return obj
            return decorate
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        self._metadata[name] = metadata
        return entry

    def unregister(self, name: str) -> None:
        """Remove `name` (a plug-in registered for a while, e.g. by a test)."""
        self.check([name])
        del self._entries[name], self._metadata[name]

    def check(self, names: Sequence[str], extra: Sequence[str] = ()) -> None:
        """Raise a `UsageError` for the first of `names` that is neither registered nor in `extra`, naming the
        valid names and the closest ones."""
        valid = [*self._entries, *extra]
        for name in names:
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise UsageError(f"unknown {self.kind} {name!r}: expected one of {', '.join(valid)}{hint}")

    def get(self, name: str) -> T:
        """The entry `name` (imported on first use when registered lazily)."""
        self.check([name])
        entry = self._entries[name] = resolve(self._entries[name])
        return entry

    def metadata(self, name: str) -> Mapping[str, Any]:
        """The metadata `name` was registered with."""
        self.check([name])
        return self._metadata[name]

    def names(self, **where: Any) -> list[str]:
        """Registered names in registration order; `where` keeps those whose metadata has these values (a
        collection-valued field matches when it contains the value)."""
        def matches(meta: Mapping[str, Any], key: str, value: Any) -> bool:
            field = meta.get(key)
            return value in field if isinstance(field, (tuple, list, frozenset, set)) else field == value
        return [n for n, meta in self._metadata.items() if all(matches(meta, k, v) for k, v in where.items())]

    def expand(self, tokens: Sequence[str] | str | None, subsets: Mapping[str, Sequence[str]], default: str,
               strict: bool = True) -> list[str]:
        """Names from names and/or subset names (comma-separated text or a sequence), in first-seen order
        without repeats; `None` or empty means the subset `default`. Unknown tokens raise a `UsageError` when
        `strict` (else they pass through: e.g. a pre-rendered tree's own corruption names)."""
        if isinstance(tokens, str):
            tokens = tokens.split(",")
        tokens = [t.strip() for t in tokens or () if t.strip()] or [default]
        if strict:
            self.check([t for t in tokens if t not in subsets], extra=list(subsets))
        names: list[str] = []
        for token in tokens:
            names += [n for n in (subsets[token] if token in subsets else (token,)) if n not in names]
        return names

    def items(self) -> Iterator[tuple[str, T]]:
        """`(name, entry)` pairs in registration order (lazy entries imported)."""
        return ((name, self.get(name)) for name in self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def resolve(entry: T | str) -> T:
    """`entry`, or the object a `"module:attribute"` string names (its module imported)."""
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        return getattr(importlib.import_module(module), attribute)
    return entry


def lazy(exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` that imports each name of `exports` (name -> module) on first access, so a
    package's `import` stays light while `package.name` still works."""
    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module has no attribute {name!r}")
    return __getattr__
