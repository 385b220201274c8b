"""The core's shape, as the Architecture issue fixed it: small modules, short functions, no
import circle, and plugins that import only the documented API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "asdbench"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# What a plugin may import of asdbench (the SDK, the hook marker, the test kit)
PLUGIN_API = {"asdbench", "asdbench.sdk", "asdbench.sdk.synth", "asdbench.sdk.metrics",
              "asdbench.testing"}


def _modules(folder: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _imports(path: Path, module: str, is_package: bool,
             known: set[str] | None = None) -> set[str]:
    """Modules imported at any level of ``path`` except under ``if TYPE_CHECKING``.

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module in
    ``known``, else of ``pkg`` (where ``name`` is defined)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
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


def _graph() -> dict[str, set[str]]:
    modules = _modules(CORE, "asdbench")
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


def test_no_import_circle_in_the_core():
    assert _cycles(_graph()) == []


def test_no_core_module_over_the_line_limit():
    long = {str(p.relative_to(ROOT)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


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
