"""The README agrees with the tree: its architecture names every package, its example method
is the shipped one, and its DCASE 2020 steps use the folders ``asdbench data fetch`` makes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "examples" / "asdbench-example-method" / "asdbench_example_method" / "__init__.py"


def section(title: str) -> str:
    """The README's text from the heading ``## title`` to the next ``## `` heading."""
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def packages(folder: str) -> set[str]:
    """The names of the Python packages directly under ``folder`` of the repository."""
    return {p.parent.name for p in (ROOT / folder).glob("*/__init__.py")}


def test_architecture_names_every_core_and_plugin_package():
    listing = section("Architecture")
    named = set(re.findall(r"^\s+(\w+)/", listing, re.M))
    assert packages("asdbench") <= named, packages("asdbench") - named
    assert packages("plugins") <= named, packages("plugins") - named
    assert named <= packages("asdbench") | packages("plugins"), "a listed package does not exist"


def test_readme_shows_the_example_method_as_shipped():
    assert "```python\n" + EXAMPLE.read_text() + "```" in section("Write a method")


def test_dcase2020_steps_use_the_folders_data_fetch_makes():
    add_plugin_commands(cli)  # idempotent
    result = CliRunner().invoke(cli, ["data", "fetch", "dcase2020", "--to", "dcase2020",
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    folders = set(re.findall(r"-> (\S+)$", result.output, re.M))
    assert folders == {"dcase2020/dev_data", "dcase2020/eval_data"}
    steps = section("OS-SCL on DCASE 2020 on a GPU")
    assert "asdbench data fetch dcase2020 --to dcase2020" in steps
    for folder in folders:
        assert f"{folder}/<type>/train/" in steps and f"{folder}/<type>/test/" in steps
    assert "--data-root dcase2020/dev_data --set data.eval_root=dcase2020/eval_data" in steps
    # step 5 runs the paper matrix from the same folder without --set
    table2 = (ROOT / "configs" / "paper-table2.toml").read_text()
    for key, folder in (("data.root", "dev_data"), ("data.eval_root", "eval_data")):
        assert f'"{key}" = "dcase2020/{folder}"' in table2


def test_readme_links_every_plugin_notes_file():
    notes = {str(p.relative_to(ROOT)) for p in (ROOT / "plugins").glob("*/NOTES.md")}
    assert notes and notes <= set(re.findall(r"\]\(([^)]+)\)", README))
