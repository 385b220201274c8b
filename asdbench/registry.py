"""Components registered by plugins, looked up by string name."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

KINDS = ("dataset", "frontend", "backbone", "method", "scorer")
# The prefix of a component kind's settings in a run config (``--set frontend.n_mels=64``).
CONFIG_PREFIX = {"dataset": "data", "frontend": "frontend", "backbone": "backbone",
                 "method": "method", "scorer": "scorer"}


class AsdbenchError(Exception):
    """An error with a one-line message meant for the user (the CLI prints it and exits 1)."""


# --- checking a component's option values (for plugins' factories) ------------------------


def _name(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def int_option(options: dict[str, Any], key: str, prefix: str, *, minimum: int = 1,
               owner: str = "") -> int:
    """``options[key]`` as an int >= ``minimum``, else an AsdbenchError naming
    ``<owner>: <prefix>.<key>`` (``prefix``: ``data``, ``frontend``, ``scorer`` ...)."""
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise AsdbenchError(f"{owner + ': ' if owner else ''}{_name(prefix, key)} must be an "
                            f"integer, at least {minimum}; got {value!r}")
    return int(value)


def float_option(options: dict[str, Any], key: str, prefix: str, *,
                 above: float | None = None, owner: str = "") -> float:
    """``options[key]`` as a float (an int is fine), ``> above`` when given, else an
    AsdbenchError naming ``<owner>: <prefix>.<key>``."""
    value = options[key]
    if (isinstance(value, bool) or not isinstance(value, Real)
            or (above is not None and not value > above)):
        bound = "" if above is None else f" above {above:g}"
        raise AsdbenchError(f"{owner + ': ' if owner else ''}{_name(prefix, key)} must be a "
                            f"number{bound}; got {value!r}")
    return float(value)


class UnknownComponentError(AsdbenchError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(AsdbenchError):
    pass


@dataclass
class Component:
    """A named, configurable building block provided by a plugin.

    ``options`` maps every setting the component accepts to its default value.
    ``package``/``version``/``plugin`` are filled in by the plugin manager.
    """

    name: str
    factory: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Engine settings this component suggests unless the user sets them, e.g. a dataset's
    # ``{"train.epochs": 300}``.
    train_defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    package: str = ""
    version: str = ""
    plugin: str = ""

    def create(self, options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Build the component with its defaults overridden by ``options``."""
        resolved = self.resolve_options(options or {})
        return self.factory(resolved, **kwargs)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            prefix = CONFIG_PREFIX.get(self.kind, self.kind)
            raise AsdbenchError(
                f"unknown setting '{prefix}.{unknown[0]}' for {self.kind} '{self.name}'"
                f"{_suggest(unknown[0], self.options)}; it accepts: "
                + (", ".join(f"{prefix}.{k}" for k in self.options) or "nothing")
            )
        return {**self.options, **options}


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


class Registry:
    """All components by kind and name."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        # Plugins that failed to load: name -> "package: error", shown when a lookup fails.
        self.failures: dict[str, str] = {}

    def add(self, kind: str, component: Component) -> None:
        if kind not in self._items:
            raise AsdbenchError(f"unknown component kind '{kind}'; kinds are {', '.join(KINDS)}")
        component.kind = kind
        existing = self._items[kind].get(component.name)
        if existing is not None:
            raise DuplicateComponentError(
                f"{kind} '{component.name}' is provided twice: by "
                f"{existing.package or existing.plugin} and by "
                f"{component.package or component.plugin}; uninstall or block one "
                "(ASDBENCH_DISABLE_PLUGINS=name)"
            )
        self._items[kind][component.name] = component

    def get(self, kind: str, name: str) -> Component:
        items = self._items[kind]
        if name in items:
            return items[name]
        message = f"unknown {kind} '{name}'{_suggest(name, items)}"
        message += f"; available: {', '.join(sorted(items)) or 'none'}"
        if self.failures:
            broken = "; ".join(f"{k} ({v})" for k, v in self.failures.items())
            message += f"; plugins that failed to load: {broken}"
        raise UnknownComponentError(message)

    def is_registered(self, kind: str, name: str) -> bool:
        return name in self._items[kind]

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._items[kind] if fnmatch.fnmatch(n, pattern))

    def create(self, kind: str, name: str, options: dict[str, Any] | None = None,
               **kwargs: Any) -> Any:
        return self.get(kind, name).create(options, **kwargs)

    def __iter__(self):
        for kind in KINDS:
            yield from (self._items[kind][n] for n in sorted(self._items[kind]))
