"""The loaded plugins (:class:`PluginSet`) and the one place that calls their hooks.

Every call into a plugin's hook goes through :meth:`PluginSet.collect` (hooks that return
items) or :meth:`PluginSet.notify` (lifecycle hooks). Both isolate a failing plugin and name
its package; plugin output to stdout goes to stderr, so machine-readable output stays clean.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.metadata import entry_points
from typing import Any, TypeVar

import pluggy

from asdbench import hookspecs
from asdbench.meta import PROJECT_NAME
from asdbench.registry import KINDS, AsdbenchError, Component, Registry, plugin_stdout

ENTRY_POINT_GROUP = "asdbench"
# Comma-separated entry-point names: load only these / never load these (hermetic runs).
ENV_ONLY = "ASDBENCH_PLUGINS"
ENV_BLOCK = "ASDBENCH_DISABLE_PLUGINS"
ENV_TRACE = "ASDBENCH_TRACE_PLUGINS"  # 1: pluggy's hook-call monitoring, on stderr

_HOOK_OF_KIND = {kind: f"asdbench_{kind}s" for kind in KINDS}
# The core's own plugins: always registered (not subject to ASDBENCH_PLUGINS), blockable by
# name like any other. Module paths, imported when the plugins are loaded.
CORE_PLUGINS = {"asdbench-commands": "asdbench.commands",
                "asdbench-metrics": "asdbench.metrics.builtin"}
# What a failing hook was asked to do, for its warning.
_DOING = {"asdbench_commands": "add its commands"}

T = TypeVar("T")


@dataclass
class PluginSet:
    """The loaded plugins. The component registry is built on first use, so that commands
    that need no component (``--help``) never import a plugin's models."""

    manager: pluggy.PluginManager
    # entry-point or plugin name -> (package, version)
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    _warned: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @property
    def hook(self):
        return self.manager.hook

    @cached_property
    def registry(self) -> Registry:
        return build_registry(self)

    def package(self, plugin: str) -> str:
        """The package that provides ``plugin`` (its own name when unknown)."""
        return self.packages.get(plugin, (plugin, ""))[0]

    def collect(self, hook: str, kind: type[T], warn: bool = False,
                **kwargs: Any) -> list[tuple[str, T]]:
        """``(plugin, item)`` for every item the implementations of ``hook`` return.

        A plugin whose implementation raises, or returns an item that is not a ``kind``, is
        recorded in ``failures`` with its package and all its items of this hook are
        skipped; ``warn``: it is also told on stderr, once.
        """
        found: list[tuple[str, T]] = []
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                items = list(self._call(hook, impl, kwargs) or [])
            except (Exception, SystemExit) as exc:  # one broken plugin must not take asdbench down
                self._record(impl.plugin_name, hook, _error_line(exc), warn)
                continue
            wrong = [type(i).__name__ for i in items if not isinstance(i, kind)]
            if wrong:
                self._record(impl.plugin_name, hook,
                             f"returned {wrong[0]}, expected {kind.__name__}", warn)
                continue
            found += [(impl.plugin_name, item) for item in items]
        return found

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook`` (a lifecycle or command hook), in pluggy's
        order; one that raises is told on stderr once, naming its package, and the rest run."""
        for impl in reversed(getattr(self.manager.hook, hook).get_hookimpls()):
            try:
                self._call(hook, impl, kwargs)
            except (Exception, SystemExit) as exc:  # an offline tracker must not end the run
                self._record(impl.plugin_name, hook, _error_line(exc), warn=True)

    def check(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a check ``hook``: an ``AsdbenchError`` stops the caller
        as it is; any other exception becomes one line naming the plugin's package."""
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                self._call(hook, impl, kwargs)
            except AsdbenchError:
                raise
            except Exception as exc:
                raise AsdbenchError(f"package {self.package(impl.plugin_name)}: {hook}: "
                                    f"{_error_line(exc)}") from None

    def _call(self, hook: str, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        """One implementation's result, called through pluggy (so tracing sees it)."""
        others = [p for p in self.manager.get_plugins() if p is not impl.plugin]
        caller = self.manager.subset_hook_caller(hook, remove_plugins=others)
        with plugin_stdout():
            results = caller(**kwargs)
        return results[0] if results else None

    def _record(self, plugin: str, hook: str, error: str, warn: bool) -> None:
        package = self.package(plugin)
        self.failures[plugin] = f"package {package}: {hook}: {error}"
        if warn and (plugin, hook) not in self._warned:
            self._warned.add((plugin, hook))
            doing = _DOING.get(hook, f"run its {hook} hook")
            print(f"warning: plugin '{plugin}' (package {package}) failed to {doing} and was "
                  f"skipped: {error}", file=sys.stderr)


def _error_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` of where the plugin raised."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({frame.filename}:{frame.lineno})"


def _split_env(name: str) -> set[str] | None:
    value = os.environ.get(name, "").strip()
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def load_plugins(extra: list[tuple[str, Any]] | None = None, *, entry_points_enabled: bool = True,
                 only: set[str] | None = None, block: set[str] | None = None) -> PluginSet:
    """Load every plugin of the entry-point group (plus ``extra`` (name, object) pairs).

    A plugin that fails to import or whose hook raises is recorded in ``failures`` and
    skipped; a lookup of a missing name then mentions it.
    """
    only = only if only is not None else _split_env(ENV_ONLY)
    block = block if block is not None else (_split_env(ENV_BLOCK) or set())
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(ENV_TRACE, "") not in ("", "0"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    packages: dict[str, tuple[str, str]] = {}
    failures: dict[str, str] = {}

    candidates: list[tuple[str, Any, tuple[str, str]]] = []
    if entry_points_enabled:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if (only is not None and ep.name not in only) or ep.name in block:
                continue
            dist = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
            try:
                with plugin_stdout():
                    candidates.append((ep.name, ep.load(), dist))
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the tool down
                failures[ep.name] = f"package {dist[0]}: {type(exc).__name__}: {exc}"
    for name, module in CORE_PLUGINS.items():
        if name not in block:
            candidates.append((name, importlib.import_module(module), (PROJECT_NAME, "")))
    for name, obj in extra or []:
        if name not in block:
            candidates.append((name, obj, (getattr(obj, "__name__", name), "")))

    for name, obj, dist in candidates:
        if pm.has_plugin(name):
            failures[name] = f"package {dist[0]}: plugin name '{name}' is already registered"
            continue
        try:
            pm.register(obj, name=name)
        except Exception as exc:
            failures[name] = f"package {dist[0]}: {type(exc).__name__}: {exc}"
            continue
        packages[name] = dist
    _drop_invalid(pm, packages, failures)
    return PluginSet(pm, packages, failures)


def _drop_invalid(pm: pluggy.PluginManager, packages: dict[str, tuple[str, str]],
                  failures: dict[str, str]) -> None:
    """Unregister each plugin that implements a hook that does not exist (a misspelling)."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or "?"
            package = packages.pop(name, ("?", ""))[0]
            failures[name] = f"package {package}: {exc}"
            pm.unregister(exc.plugin)


def build_registry(plugins: PluginSet) -> Registry:
    """Every component of every loaded plugin. A plugin whose hook fails is recorded in
    ``failures`` and its components of that hook skipped; a name already taken keeps the
    first plugin's component and records the second's."""
    registry = Registry()
    for kind, hook_name in _HOOK_OF_KIND.items():
        for plugin, comp in plugins.collect(hook_name, Component):
            comp.package, comp.version = plugins.packages.get(plugin, (plugin, ""))
            comp.plugin = plugin
            try:
                registry.add(kind, comp)
            except AsdbenchError as exc:  # a duplicate name: the first one stays
                plugins.failures[plugin] = f"package {comp.package}: {exc}"
    registry.failures = plugins.failures
    registry.plugins = plugins
    return registry


@lru_cache(maxsize=1)
def default_plugins() -> PluginSet:
    """The process-wide plugin set (entry points, filtered by the environment variables)."""
    return load_plugins()


def get_registry() -> Registry:
    return default_plugins().registry
