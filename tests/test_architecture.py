"""The core's shape: no import circle (counting function-local and TYPE_CHECKING imports),
no import of a plugin, short functions, the contract below everything, seams declared, and
plugins that import only the documented API. ``--help`` without torch: tests/test_cli.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "asdbench"
MAX_FUNCTION_LINES = 80  # about one screen, docstring included
PLUGIN_PACKAGES = sorted(p.name for p in (ROOT / "plugins").iterdir() if p.name.startswith("asdbench_"))
# The plugin contract (what plugins declare or return): it imports nothing above it.
CONTRACT = ("asdbench.sdk.protocols", "asdbench.sdk.tables", "asdbench.sdk.metric_protocols",
            "asdbench.data")
ABOVE_CONTRACT = ("asdbench.run", "asdbench.leaderboard", "asdbench.metrics", "asdbench.matrix",
                  "asdbench.commands", "asdbench.plugins", "asdbench.hookspecs")
# Attributes the engine reads by name that are no plugin seam: the core's own objects.
NOT_SEAMS = {
    "__name__": "an object's name, for messages",
    "add_lazy": "asdbench.cli.AsdbenchGroup's method",
    "asdbench_speed": "the speed record asdbench.speed attaches to a model",
    "channel": "asdbench.data.AudioSpec's field, on a spec made before it existed",
    "error_string": "soundfile's LibsndfileError",
    "getuid": "os.getuid, absent on Windows",
    "reason": "urllib's URLError",
    "item": "a numpy scalar, written to JSON",
    "omit_default": "asdbench.options.Option's field (an option may be a plain default)",
    "shape": "a numpy scalar, written to JSON",
}
# What a plugin may import of asdbench (the SDK, the hook marker, the test kit)
PLUGIN_API = {"asdbench", "asdbench.sdk", "asdbench.sdk.metrics", "asdbench.testing"}


def _modules(folder: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _imports(path: Path, module: str, is_package: bool,
             known: set[str] | None = None, type_checking: bool = True) -> set[str]:
    """Modules imported at any level of ``path``: module level, inside functions, and under
    ``if TYPE_CHECKING`` (unless ``type_checking`` is False).

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module in
    ``known``, else of ``pkg`` (where ``name`` is defined)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if (not type_checking and isinstance(node, ast.If)
                and "TYPE_CHECKING" in ast.unparse(node.test)):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if known is not None and sub in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph(folder: Path = CORE, package: str = "asdbench") -> dict[str, set[str]]:
    modules = _modules(folder, package)
    graph = {}
    for name, path in modules.items():
        imported = _imports(path, name, path.name == "__init__.py", set(modules))
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_finder_counts_function_local_and_type_checking_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n"
                    "def f():\n    from b import c\n")
    assert _imports(path, "m", False) >= {"a", "b"}
    assert "a" not in _imports(path, "m", False, type_checking=False)


def test_no_import_circle_in_the_core():
    assert _cycles(_graph()) == []


@pytest.mark.parametrize("plugin", PLUGIN_PACKAGES)
def test_no_import_circle_in_a_shipped_plugin(plugin):
    assert _cycles(_graph(ROOT / "plugins" / plugin, plugin)) == []


def test_the_core_imports_no_plugin():
    modules = _modules(CORE, "asdbench")
    bad = {name: sorted(m for m in _imports(path, name, path.name == "__init__.py")
                        if m.split(".")[0] in PLUGIN_PACKAGES)
           for name, path in modules.items()}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_contract_imports_nothing_above_it():
    graph = _graph()
    bad = {m: sorted(i for i in graph[m] if i.startswith(ABOVE_CONTRACT)) for m in CONTRACT}
    assert {k: v for k, v in bad.items() if v} == {}


def _declared_names() -> set[str]:
    """What the contract's protocols declare: the component kinds' members and the seams."""
    from asdbench.sdk import protocols

    names = set(protocols.SEAMS)
    for proto in (protocols.Dataset, protocols.Frontend, protocols.Backbone, protocols.Method,
                  protocols.Scorer, *protocols.SEAMS.values()):
        names |= {n for n in vars(proto) if not n.startswith("_")}
        names |= set(getattr(proto, "__annotations__", {}))
    return names


def test_every_seam_is_declared_by_its_protocol():
    from asdbench.sdk.protocols import SEAMS

    missing = {name: proto.__name__ for name, proto in SEAMS.items()
               if name not in vars(proto) and name not in proto.__annotations__
               and name != "class_names"}  # a factory's keyword: declared in __call__
    assert missing == {}


def test_the_engine_reads_no_undeclared_seam():
    """Every ``getattr``/``hasattr`` by a literal name in the core reads a declared seam or
    component member, or one of the core's own objects (:data:`NOT_SEAMS`)."""
    declared = _declared_names() | set(NOT_SEAMS)
    read: dict[str, str] = {}
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str)):
                read[node.args[1].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert "own_score" in read  # the scan sees the engine's reads
    assert {name: where for name, where in read.items() if name not in declared} == {}


def test_every_hook_is_documented():
    from asdbench import hookspecs

    hooks = [f for name, f in vars(hookspecs).items() if name.startswith("asdbench_")]
    assert len(hooks) >= 12
    assert [f.__name__ for f in hooks if not (f.__doc__ or "").strip()] == []


def test_no_core_function_over_the_line_limit():
    long = {}
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").iterdir()
                                          if (p / "plugin.py").exists()))
def test_shipped_plugins_import_only_the_documented_api(plugin):
    folder = ROOT / "plugins" / plugin
    core = set(_modules(CORE, "asdbench"))
    bad = {}
    for name, path in _modules(folder, plugin).items():
        if "tests" in path.relative_to(folder).parts:
            continue  # a plugin's own tests may reach into the core it is tested against
        used = _imports(path, name, path.name == "__init__.py", core)
        outside = sorted(m for m in used if m.split(".")[0] == "asdbench" and m not in PLUGIN_API)
        if outside:
            bad[str(path.relative_to(ROOT))] = outside
    assert bad == {}
