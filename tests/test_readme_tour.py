"""The README's CLI tour leaves the published results alone: from a fresh working directory its
commands read and write the user's own folder (``asdbench-results/`` or ``$ASDBENCH_RESULTS``),
never the committed ``results/``."""

from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli
from asdbench.workspace import DEFAULT_FOLDER, ENV_VAR, PUBLISHED_FOLDER, default_results

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / PUBLISHED_FOLDER
# Tour commands that train or need a trained checkpoint, real recordings or a Ray cluster; the
# rest (listing, describing, planning, ranking, reporting) run here as written.
NEEDS_TRAINING = {"run", "eval", "score", "export", "data"}


def invoke(*args: str):
    """``asdbench ARGS`` in this process, with every command registered as ``main`` does."""
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, list(args))


def tour_lines() -> list[list[str]]:
    """The command lines of the README's CLI tour block, comments removed."""
    text = (REPO / "README.md").read_text()
    block = text.split("## CLI tour", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def runnable(words: list[str]) -> bool:
    """Whether a tour line runs here: an ``asdbench`` command that trains nothing."""
    if words[0] != "asdbench" or words[1] in NEEDS_TRAINING or "<run-id>" in " ".join(words):
        return False
    return words[1] != "matrix" or "--dry-run" in words


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (also untracked ones) and the hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def fresh_checkout(tmp_path, monkeypatch) -> Path:
    """A working directory as a clone gives it (configs/, results/ are the repository's own,
    linked, so a write into results/ would change the real files) with a few finished runs of
    the user's: copies of published seed-0 runs, standing in for ones they trained."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    for name in ("configs", "results"):
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    for run in sorted((PUBLISHED / "runs").glob("*_s0_*")):
        shutil.copytree(run, tmp_path / DEFAULT_FOLDER / "runs" / run.name,
                        ignore=shutil.ignore_patterns("eval", "*.pt", "*.safetensors"))
    return tmp_path


def test_the_tour_has_the_commands_this_test_runs():
    lines = [" ".join(w[1:3]) for w in tour_lines() if runnable(w)]
    assert {"plugins", "describe --method", "matrix configs/quick.toml", "leaderboard",
            "report"} <= set(lines)
    assert len(lines) >= 10


@pytest.mark.slow  # about 40 s on 2 CPU cores: plots and the report of a few runs
def test_tour_writes_only_under_the_users_folder(fresh_checkout):
    before = snapshot(PUBLISHED)
    outputs = {}
    for words in filter(runnable, tour_lines()):
        result = invoke(*words[1:])
        outputs[" ".join(words)] = result.output
        # the published runs are those of the shipped configs' current run ids, so every
        # line succeeds, --matrix filters included
        assert result.exit_code == 0, (words, result.output)
    assert snapshot(PUBLISHED) == before  # no published file written, changed or added
    names = {p.name for p in fresh_checkout.iterdir()}
    assert names == {"configs", "results", str(DEFAULT_FOLDER)}  # nothing beside them either
    user = fresh_checkout / DEFAULT_FOLDER
    assert (user / "report.html").stat().st_size > 10_000
    assert list((user / "plots").glob("*.png"))
    paper = outputs["asdbench leaderboard --results results --reference paper"]
    # published runs and the paper's rows (its own track: no dcase2020 run is published)
    assert "dcase2020·published" in paper and "synthetic·" in paper


def test_leaderboard_without_runs_names_the_users_folder(fresh_checkout):
    shutil.rmtree(fresh_checkout / DEFAULT_FOLDER)
    result = invoke("leaderboard")
    assert result.exit_code == 1
    assert f"{DEFAULT_FOLDER}: no finished run" in result.output


def test_default_folder_and_its_override(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_results() == Path("asdbench-results")
    monkeypatch.setenv(ENV_VAR, "  ")
    assert default_results() == Path("asdbench-results")  # blank: unset
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert default_results() == tmp_path / "mine"
    monkeypatch.setenv(ENV_VAR, "~/asd")
    assert default_results() == Path.home() / "asd"


@pytest.mark.parametrize("name", ["run", "matrix", "leaderboard", "report"])
def test_every_results_option_takes_the_one_default(name, monkeypatch, tmp_path):
    add_plugin_commands(cli)
    command = cli.get_command(click.Context(cli), name)
    option = next(p for p in command.params if p.name == "results")
    with click.Context(command) as ctx:
        monkeypatch.delenv(ENV_VAR, raising=False)
        assert option.get_default(ctx) == Path("asdbench-results")
        monkeypatch.setenv(ENV_VAR, str(tmp_path))
        assert option.get_default(ctx) == tmp_path
    assert "asdbench-results/" in invoke(name, "--help").output


def test_benchmarks_write_to_the_users_folder_unless_told(monkeypatch, tmp_path, capsys):
    from bench import report
    from bench.common import parser

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert parser("x").parse_args([]).out == tmp_path / "bench"
    assert parser("x").parse_args(["--out", "results/bench"]).out == Path("results/bench")
    (tmp_path / "bench").mkdir()
    shutil.copy(PUBLISHED / "bench" / "data.json", tmp_path / "bench")
    report.main([])  # reads the user's records by default
    assert capsys.readouterr().out.startswith("### data\n")
    monkeypatch.delenv(ENV_VAR)
    assert parser("x").parse_args([]).out == Path("asdbench-results/bench")
    monkeypatch.chdir(tmp_path)  # no asdbench-results/ here: nothing to print
    report.main([])
    assert capsys.readouterr().out == ""
