"""The core's size figures (issue 24): modules, lines, docstring words per line and
function-local imports of ``asdbench/``, in the working tree or at git commits.

    python -m bench.core_size                 # the working tree
    python -m bench.core_size baff6e2 HEAD    # at commits (issue 24's "before" is baff6e2)

Function-local imports are counted per area too (``commands/`` is the lazy command boundary).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sources(commit: str | None) -> Iterable[tuple[str, str]]:
    """``(path, text)`` of every ``asdbench/**/*.py``, from the tree or from ``commit``."""
    if commit is None:
        for path in sorted((ROOT / "asdbench").rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text()
        return
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", commit,
                             "asdbench/"], capture_output=True, text=True, check=True)
    for name in listed.stdout.split():
        if name.endswith(".py"):
            yield name, subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{name}"],
                                       capture_output=True, text=True, check=True).stdout


def figures(files: Iterable[tuple[str, str]]) -> dict[str, object]:
    """Modules, lines, docstring words (module, class, function) and function-local imports."""
    modules = lines = words = 0
    local: Counter[str] = Counter()
    for name, text in files:
        modules += 1
        lines += len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                words += len((ast.get_docstring(node, clean=False) or "").split())
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                area = name.split("/")[1]
                local[area] += sum(isinstance(s, (ast.Import, ast.ImportFrom))
                                   for s in ast.walk(node))
    return {"modules": modules, "lines": lines, "doc_words_per_line": round(words / lines, 2),
            "local_imports": sum(local.values()),
            "local_imports_by_area": {k: v for k, v in local.most_common() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="*", help="git commits (none: the working tree)")
    for commit in parser.parse_args().commits or [None]:
        print(commit or "tree", figures(sources(commit)))


if __name__ == "__main__":
    main()
