"""Reliability, third round: each problem class injected once, with what must hold after it.

Identity (paths resolved before hashing), one training per run folder (the claim lock, the
model's checksum), audio (any sample rate in bounded memory, clipping, non-UTF-8 names),
files (modes, torn logs, temp files, CSV quoting), matrix and leaderboard, settings and fetch.
Every failure is a one-line error or warning, an exit status, and nothing computed lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli
from asdbench.config import resolve
from asdbench.matrix.claims import Claims
from asdbench.matrix.grid import plan
from asdbench.plugins import get_registry
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.rundir import RunDir

TINY = {
    "dataset": "synthetic", "data.types": "fan", "data.ids_per_type": 2,
    "data.train_per_id": 8, "data.test_normal_per_id": 3, "data.test_anomaly_per_id": 3,
    "data.clip_seconds": 1.0, "frontend": "logmel", "method": "os-scl", "train.epochs": 1,
    "train.batch_size": 8, "train.lr": 1e-3, "train.device": "cpu",
}


def invoke(*args: object):
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *needles: str, code: int = 1) -> str:
    """Exit ``code``, exactly one line on stderr starting ``Error:``, no traceback."""
    err = result.stderr.strip()
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert len(err.splitlines()) == 1 and err.startswith("Error: "), err
    assert "Traceback" not in result.output + err
    for needle in needles:
        assert needle in err, err
    return err


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A finished one-epoch run trained under a 0022 umask: its folder."""
    results = tmp_path_factory.mktemp("results")
    old = os.umask(0o022)
    try:
        _, run = train_and_evaluate(resolve(TINY, get_registry()), results, progress=False)
    finally:
        os.umask(old)
    return run.path


def copy_run(tiny: Path, tmp_path: Path) -> RunDir:
    run = RunDir.for_run(tmp_path / "results", tiny.name)
    shutil.copytree(tiny, run.path)
    return run


# --- identity ------------------------------------------------------------------------------


def test_a_relative_data_root_enters_the_run_id_as_an_absolute_path(tmp_path, monkeypatch):
    """Two projects sharing a results folder, each with its own ``data/``: two run ids; the
    same folder typed relative and absolute: one."""
    registry = get_registry()
    ids = {}
    for project in ("a", "b"):
        (tmp_path / project / "data").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / project)
        cfg = resolve({"dataset": "synthetic", "data.root": "data/../data/"}, registry)
        assert cfg["data.root"] == str(tmp_path / project / "data")
        ids[project] = cfg.run_id
        same = resolve({"dataset": "synthetic", "data.root": str(tmp_path / project / "data")},
                       registry)
        assert same.run_id == cfg.run_id
    assert ids["a"] != ids["b"]
    # words a dataset reads as such stay words
    assert resolve({"dataset": "synthetic", "data.root": ""}, registry)["data.root"] == ""


def test_matrix_cells_carry_absolute_folders_to_their_workers(tmp_path, monkeypatch):
    """A Ray worker starts elsewhere: the cell's settings hold the driver's absolute path."""
    monkeypatch.chdir(tmp_path)
    cells = plan({"name": "m", "axes": {"seed": [0]},
                  "settings": {**TINY, "data.root": "data"}}, get_registry())
    assert cells[0].overrides["data.root"] == str(tmp_path / "data")
    monkeypatch.chdir("/")
    assert resolve(cells[0].overrides, get_registry()).run_id == cells[0].run_id


# --- one training per run folder -------------------------------------------------------------


def test_a_second_training_of_one_run_says_who_holds_it(tiny, tmp_path):
    """A live process holds the run's claim: ``run`` says so in one line and writes nothing."""
    cfg = resolve(TINY, get_registry())
    results = tmp_path / "results"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claims = Claims(results, owner="matrix other")
        assert claims.acquire(cfg.run_id) is not None
        claim = claims.path(cfg.run_id)
        info = json.loads(claim.read_text())
        claim.write_text(json.dumps({**info, "pid": holder.pid}))  # held by that process
        out = invoke("run", "--config", write_toml(tmp_path, TINY), "--results", results,
                     "--quiet")
        one_line_error(out, f"pid {holder.pid}", "matrix other", "is training this run")
        assert not RunDir.for_run(results, cfg.run_id).path.exists()
        assert claim.exists()  # the holder's claim is left alone
    finally:
        holder.kill()
        holder.wait()


def test_a_model_replaced_after_the_run_finished_is_refused(tiny, tmp_path):
    """Another training's model beside this run's metrics: score and eval refuse it."""
    from safetensors.torch import load_file, save_file

    run = copy_run(tiny, tmp_path)
    metrics = json.loads(run.metrics_path.read_text())
    assert set(metrics["checksums"]) == {RunDir.MODEL, RunDir.TRAIN_INPUTS}
    weights = load_file(str(run.model_path))
    first = next(iter(weights))
    weights[first] = weights[first] + 1  # same shapes: it loads, its numbers differ
    save_file(weights, str(run.model_path))
    wav = next(Path(json.loads(run.config_path.read_text())["data_root"]).rglob("*.wav"))
    before = hashes(run.path)
    for args in (("score", "--run", run.path, wav), ("eval", "--run", run.path, "--quiet")):
        one_line_error(invoke(*args), "model.safetensors", "SHA-256 differs")
    assert hashes(run.path) == before


def write_toml(folder: Path, settings: dict) -> Path:
    from asdbench.matrix.grid import to_toml

    path = folder / "run.toml"
    path.write_text(to_toml(settings))
    return path
