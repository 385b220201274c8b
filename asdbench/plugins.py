"""Discovering plugins through the ``asdbench`` entry-point group and building the registry."""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from asdbench import hookspecs
from asdbench.meta import PROJECT_NAME
from asdbench.registry import KINDS, AsdbenchError, Component, Registry

ENTRY_POINT_GROUP = "asdbench"
# Comma-separated entry-point names: load only these / never load these (hermetic runs).
ENV_ONLY = "ASDBENCH_PLUGINS"
ENV_BLOCK = "ASDBENCH_DISABLE_PLUGINS"

_HOOK_OF_KIND = {kind: f"asdbench_{kind}s" for kind in KINDS}
# The core's own plugins: always registered (not subject to ASDBENCH_PLUGINS), blockable by
# name like any other. Module paths, imported when the plugins are loaded.
CORE_PLUGINS = {"asdbench-commands": "asdbench.commands",
                "asdbench-metrics": "asdbench.metrics.builtin"}


@dataclass
class PluginSet:
    """The loaded plugins. The component registry is built on first use, so that commands
    that need no component (``--help``) never import a plugin's models."""

    manager: pluggy.PluginManager
    # entry-point or plugin name -> (package, version)
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def hook(self):
        return self.manager.hook

    @cached_property
    def registry(self) -> Registry:
        return build_registry(self.manager, self.packages, self.failures)


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
    packages: dict[str, tuple[str, str]] = {}
    failures: dict[str, str] = {}

    candidates: list[tuple[str, Any, tuple[str, str]]] = []
    if entry_points_enabled:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if (only is not None and ep.name not in only) or ep.name in block:
                continue
            dist = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
            try:
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


def build_registry(pm: pluggy.PluginManager, packages: dict[str, tuple[str, str]],
                   failures: dict[str, str]) -> Registry:
    """Every component of every loaded plugin. A plugin whose hook fails in any way is
    recorded in ``failures`` (with its package) and its components of that hook skipped; a
    name already taken keeps the first plugin's component and records the second's."""
    registry = Registry()
    for kind, hook_name in _HOOK_OF_KIND.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            package, version = packages.get(impl.plugin_name, (impl.plugin_name, ""))
            try:
                components = _components(impl.function(), hook_name)
            except (Exception, SystemExit) as exc:  # a broken plugin must not take asdbench down
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                failures[impl.plugin_name] = (f"package {package}: {type(exc).__name__}: {exc} "
                                              f"({tb.filename}:{tb.lineno})")
                continue
            for comp in components:
                comp.package, comp.version, comp.plugin = package, version, impl.plugin_name
                try:
                    registry.add(kind, comp)
                except AsdbenchError as exc:  # a duplicate name: the first one stays
                    failures[impl.plugin_name] = f"package {package}: {exc}"
    registry.failures = failures
    return registry


def _components(returned: Any, hook_name: str) -> list[Component]:
    components = list(returned or [])
    for comp in components:
        if not isinstance(comp, Component):
            raise TypeError(f"{hook_name} returned {type(comp).__name__}, "
                            "expected asdbench.registry.Component")
    return components


@lru_cache(maxsize=1)
def default_plugins() -> PluginSet:
    """The process-wide plugin set (entry points, filtered by the environment variables)."""
    return load_plugins()


def get_registry() -> Registry:
    return default_plugins().registry
