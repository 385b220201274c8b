"""Components registered by plugins, looked up by string name (or by an alias of it)."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asdbench.errors import AsdbenchError
from asdbench.options import OptionInfo, as_option, option_defaults

KINDS = ("dataset", "frontend", "backbone", "method", "scorer")
# The prefix of a component kind's settings in a run config (``--set frontend.n_mels=64``).
CONFIG_PREFIX = {"dataset": "data", "frontend": "frontend", "backbone": "backbone",
                 "method": "method", "scorer": "scorer"}

__all__ = ["KINDS", "CONFIG_PREFIX", "AsdbenchError", "Component", "Registry",
           "UnknownComponentError", "DuplicateComponentError", "DeprecatedNameWarning"]


@contextlib.contextmanager
def plugin_stdout(enabled: bool = True) -> Iterator[None]:
    """Send what plugin code prints to stdout to stderr while the block runs (when
    ``enabled``), so that no plugin's print reaches machine-readable output (``--json``)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


class UnknownComponentError(AsdbenchError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(AsdbenchError):
    pass


class DeprecatedNameWarning(FutureWarning):
    """A component was asked for by a deprecated alias (shown by default, once per name)."""


@dataclass
class Component:
    """A named, configurable building block provided by a plugin.

    ``factory`` is a callable, or a ``"package.module:function"`` string imported on the first
    :meth:`create` (so that listing components imports no component module, e.g. no torch).
    ``options`` maps every setting the component accepts to its default value, or to an
    :class:`asdbench.options.Option` declaring its type, range, choices and help text; values
    a user sets are checked against it before ``factory`` runs. ``aliases`` are other names the
    registry resolves to this one (a former name keeps finished runs loadable);
    ``deprecated_aliases`` do the same with a warning, once per name. ``recipes`` are a
    method's named presets of settings (its authors' training recipe, say).
    ``package``/``version``/``plugin`` are filled in by the plugin manager.
    """

    name: str
    factory: Callable[..., Any] | str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Engine settings this component suggests unless the user sets them, e.g. a dataset's
    # ``{"train.epochs": 300}``.
    train_defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    package: str = ""
    version: str = ""
    plugin: str = ""
    aliases: tuple[str, ...] = ()
    deprecated_aliases: tuple[str, ...] = ()
    # A method's named training presets, ``{"authors": {"train.batch_size": 128, ...}}``,
    # chosen with ``--set recipe=NAME`` (asdbench.recipes)
    recipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _loaded: Callable[..., Any] | None = field(default=None, init=False, repr=False,
                                               compare=False)

    @property
    def defaults(self) -> dict[str, Any]:
        """Every option with its plain default value (what a resolved config holds)."""
        return option_defaults(self.options)

    def create(self, options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Build the component with its defaults overridden by ``options``."""
        resolved = self.resolve_options(options or {})
        factory = self.load_factory()
        try:
            with plugin_stdout():
                return factory(resolved, **kwargs)
        except (AsdbenchError, OSError):  # the user's to fix: shown as they are
            raise
        except Exception as exc:  # a plugin's bug: one line naming its package
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise AsdbenchError(f"{self.owner()}: its factory failed: "
                                f"{type(exc).__name__}: {reason}") from exc

    def owner(self) -> str:
        """``kind 'name' (package P)``, for errors."""
        return (f"{self.kind or 'component'} '{self.name}'"
                f" (package {self.package or self.plugin or 'unknown'})")

    def load_factory(self) -> Callable[..., Any]:
        """The factory as a callable; a string one is imported once, and a failed import is a
        one-line AsdbenchError naming the component and its package."""
        if self._loaded is None:
            self._loaded = (self.factory if not isinstance(self.factory, str)
                            else _import_factory(self.factory, self))
        return self._loaded

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The defaults overridden by ``options``, values unchanged; an unknown key or a value
        its schema refuses is a one-line AsdbenchError naming ``<prefix>.<key>``."""
        prefix = CONFIG_PREFIX.get(self.kind, self.kind)
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise AsdbenchError(
                f"unknown setting '{prefix}.{unknown[0]}' for {self.kind} '{self.name}'"
                f"{suggest(unknown[0], self.options)}; it accepts: "
                + (", ".join(f"{prefix}.{k}" for k in self.options) or "nothing")
            )
        for key, value in options.items():
            as_option(self.options[key]).check(value, f"{prefix}.{key}", self.name)
        return {**self.defaults, **options}

    def describe_options(self) -> list[OptionInfo]:
        """``(name, default, type, help)`` of every option, in declaration order; ``type`` says
        in words what it accepts (``an integer, at least 1``)."""
        rows = []
        for key, value in self.options.items():
            option = as_option(value)
            rows.append(OptionInfo(key, option.default, option.describe(), option.help))
        return rows


def _import_factory(target: str, component: Component) -> Callable[..., Any]:
    owner = component.owner()
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise AsdbenchError(f"{owner}: factory {target!r} is not 'package.module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # ImportError, AttributeError, or an error inside the module
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise AsdbenchError(f"{owner}: cannot load its factory {target!r}: "
                            f"{type(exc).__name__}: {reason}") from exc
    if not callable(factory):
        raise AsdbenchError(f"{owner}: factory {target!r} is a {type(factory).__name__}, "
                            "not a callable")
    return factory


def suggest(name: str, choices) -> str:
    """`` (did you mean 'a', 'b'?)`` for the close matches of ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


class Registry:
    """All components by kind and name."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        # alias -> (component name, deprecated?) per kind
        self._aliases: dict[str, dict[str, tuple[str, bool]]] = {k: {} for k in KINDS}
        self._warned: set[tuple[str, str]] = set()
        # Plugins that failed to load: name -> "package: error", shown when a lookup fails.
        self.failures: dict[str, str] = {}
        self.plugins: Any = None  # the PluginSet it was built from (asdbench.plugins)

    def add(self, kind: str, component: Component) -> None:
        if kind not in self._items:
            raise AsdbenchError(f"unknown component kind '{kind}'; kinds are {', '.join(KINDS)}")
        component.kind = kind
        aliases = {**{a: False for a in component.aliases},
                   **{a: True for a in component.deprecated_aliases}}
        for name in (component.name, *aliases):
            existing = self._owner(kind, name)
            if existing is not None:
                raise DuplicateComponentError(
                    f"{kind} '{name}' is provided twice: by "
                    f"{existing.package or existing.plugin} and by "
                    f"{component.package or component.plugin}; uninstall one, or block it "
                    f"with ASDBENCH_DISABLE_PLUGINS={component.plugin or 'PLUGIN'} (or "
                    f"={existing.plugin or 'PLUGIN'})"
                )
        if component.name in aliases:
            raise AsdbenchError(f"{kind} '{component.name}' lists its own name as an alias")
        self._items[kind][component.name] = component
        for alias, deprecated in aliases.items():
            self._aliases[kind][alias] = (component.name, deprecated)

    def _owner(self, kind: str, name: str) -> Component | None:
        """The component that ``name`` (a name or an alias) denotes, if any."""
        if name in self._items[kind]:
            return self._items[kind][name]
        if name in self._aliases[kind]:
            return self._items[kind][self._aliases[kind][name][0]]
        return None

    def canonical_name(self, kind: str, name: str) -> str:
        """The registered name behind ``name`` (itself unless it is an alias)."""
        return self.get(kind, name).name

    def get(self, kind: str, name: str) -> Component:
        items = self._items[kind]
        if name in items:
            return items[name]
        if name in self._aliases[kind]:
            target, deprecated = self._aliases[kind][name]
            if deprecated and (kind, name) not in self._warned:
                self._warned.add((kind, name))
                warnings.warn(f"{kind} '{name}' is deprecated; it is now called '{target}'",
                              DeprecatedNameWarning, stacklevel=2)
            return items[target]
        message = f"unknown {kind} '{name}'{suggest(name, items)}"
        message += f"; available: {', '.join(sorted(items)) or 'none'}"
        if self.failures:
            broken = "; ".join(f"{k} ({v})" for k, v in self.failures.items())
            message += f"; plugins that failed to load: {broken}"
        raise UnknownComponentError(message)

    def is_registered(self, kind: str, name: str) -> bool:
        """Whether ``name`` is a registered name or an alias of one."""
        return self._owner(kind, name) is not None

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Registered names (not aliases) matching the glob ``pattern``, sorted."""
        return sorted(n for n in self._items[kind] if fnmatch.fnmatch(n, pattern))

    def create(self, kind: str, name: str, options: dict[str, Any] | None = None,
               **kwargs: Any) -> Any:
        return self.get(kind, name).create(options, **kwargs)

    def __iter__(self):
        for kind in KINDS:
            yield from (self._items[kind][n] for n in sorted(self._items[kind]))
