"""The matrix runner: grid expansion, claims, restarts, failures, parallel cells, CLI."""

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from asdbench.claims import Claims
from asdbench.commands.matrix import command as matrix_command
from asdbench.config import flatten, load_toml, resolve, run_id
from asdbench.matrix import executors
from asdbench.matrix.executors import (
    LocalExecutor,
    RayExecutor,
    local_capacity,
    make_executor,
    ray_task_options,
    visible_gpus,
)
from asdbench.matrix.gpus import GpuSlots, mps_pipe_dir, parse_memory
from asdbench.matrix.grid import expand, load_matrix, packing, plan, to_toml
from asdbench.matrix.outcome import (
    check_result,
    error_line,
    is_finished,
    read_result,
    result_line,
)
from asdbench.matrix.records import read_failures
from asdbench.matrix.runner import run_matrix
from asdbench.registry import AsdbenchError, Component, Registry

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# --- a registry and an engine stand-in -----------------------------------------------------


def fake_registry() -> Registry:
    """Components with the default names (resolve needs them) and a few options."""
    reg = Registry()
    none = lambda *a, **k: None  # noqa: E731
    reg.add("dataset", Component("synthetic", none, {"types": "fan", "clip_seconds": 2.0}))
    for name in ("tfstgram", "logmel"):
        reg.add("frontend", Component(name, none, {"n_mels": 128}))
    reg.add("backbone", Component("mobilefacenet", none, {}))
    for name in ("os-scl", "arcface", "boom", "flaky", "slow", "pair", "liar", "mute"):
        reg.add("method", Component(name, none, {"margin": 0.7}))
    reg.add("scorer", Component("ce", none, {}))
    return reg


# Stands in for `python -m asdbench run`: trains "run" --expect-run-id, writes its metrics.json,
# prints the result line last (then a stderr line, as an interpreter may at exit) and appends one
# line per call to calls.jsonl; method "boom" fails, "flaky" fails on its first call, "slow"
# waits (up to 30 s) until method.margin cells have started ("pair": then 0.4 s more), "liar"
# trains and reports another run id, "mute" finishes without a result line.
FAKE_ENGINE = textwrap.dedent('''
    import json, os, sys, time, tomllib
    from pathlib import Path
    args = sys.argv[1:]
    cfg = tomllib.loads(Path(args[args.index("--config") + 1]).read_text())
    results = Path(args[args.index("--results") + 1])
    rid = args[args.index("--expect-run-id") + 1]
    method = cfg.get("method")
    start = time.time()
    met = None
    if method in ("slow", "pair"):
        (results / f"started-{rid}").touch()
        while time.time() - start < 30 and not met:
            met = len(list(results.glob("started-*"))) >= int(cfg["method.margin"])
            time.sleep(0.05)
        if method == "pair":
            time.sleep(0.4)  # still running when the executor could start more
    with open(results / "calls.jsonl", "a") as fh:
        fh.write(json.dumps({"run_id": rid, "args": args, "start": start, "end": time.time(),
                             "met": met, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")
    marker = results / f"{rid}.tried"
    if method == "boom" or (method == "flaky" and not marker.exists()):
        marker.touch()
        print("training...", flush=True)
        print("Error: the [bold]boom[/] plugin raised on purpose", file=sys.stderr)
        sys.exit(1)
    trained = rid + "-other" if method == "liar" else rid
    run = results / "runs" / trained
    run.mkdir(parents=True, exist_ok=True)
    seed = int(cfg.get("seed", 0))
    auc = 0.6 + 0.1 * seed
    (run / "metrics.json").write_text(json.dumps({"run_id": trained, "config": cfg,
        "protocols": {"dcase2020": {"average": {"auc": auc, "pauc": auc - 0.1}}}}))
    if method != "mute":
        print(json.dumps({"asdbench_result": {"run_id": trained, "run_dir": str(run),
                                              "status": "finished"}}), flush=True)
    print("a warning at exit", file=sys.stderr)
''')


@pytest.fixture
def engine_cmd(tmp_path):
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    return [sys.executable, str(script)]


def calls(results: Path) -> list[dict]:
    path = results / "calls.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def quiet_run(config, results, engine_cmd, **kw):
    max_parallel = kw.pop("max_parallel", 1)
    executor = LocalExecutor(engine_cmd, max_parallel=max_parallel, gpus=kw.pop("gpus", []))
    return run_matrix(config, results, registry=kw.pop("registry", fake_registry()),
                         executor=executor, progress=False, **kw)


GRID = {"name": "t", "axes": {"seed": [0, 1], "method": ["arcface", "os-scl"]},
        "settings": {"frontend": "logmel", "train": {"epochs": 1}}}


# --- expansion -----------------------------------------------------------------------------


def test_expand_is_the_product_with_first_axis_slowest_and_settings_under_each_cell():
    cells = expand(GRID)
    assert [(c["seed"], c["method"]) for c in cells] == [
        (0, "arcface"), (0, "os-scl"), (1, "arcface"), (1, "os-scl")]
    assert all(c["frontend"] == "logmel" and c["train.epochs"] == 1 for c in cells)


def test_exclude_and_include_partial_combinations():
    config = {
        "axes": {"seed": [0, 1], "method": ["arcface", "os-scl"], "frontend": ["logmel", "tfstgram"]},
        "settings": {"method.margin": 0.5},
        "exclude": [{"method": "arcface", "frontend": "tfstgram"},  # 2 cells (both seeds)
                    {"method": "os-scl", "frontend": "logmel", "seed": [1]}],  # 1 cell
        "include": [{"method": "noisy-arcmix", "frontend": "tastgram"},  # every seed
                    {"method": "os-scl", "frontend": "logmel", "seed": 1,
                     "method.margin": [0.4, 0.7]}],
    }
    cells = expand(config)
    combos = [(c["seed"], c["method"], c["frontend"], c["method.margin"]) for c in cells]
    assert combos == [
        (0, "arcface", "logmel", 0.5), (0, "os-scl", "logmel", 0.5), (0, "os-scl", "tfstgram", 0.5),
        (1, "arcface", "logmel", 0.5), (1, "os-scl", "tfstgram", 0.5),
        (0, "noisy-arcmix", "tastgram", 0.5), (1, "noisy-arcmix", "tastgram", 0.5),
        (1, "os-scl", "logmel", 0.4), (1, "os-scl", "logmel", 0.7)]


def test_identical_cells_are_kept_once_and_an_include_adds_nothing_already_there():
    config = {"axes": {"seed": [0, 0, 1]}, "include": [{"seed": 1}]}
    assert expand(config) == [{"seed": 0}, {"seed": 1}]


@pytest.mark.parametrize("config, message", [
    ({"axis": {"seed": [0]}}, "unknown top-level key 'axis' (did you mean 'axes'?); "
     "expected name, description, axes, settings, exclude, include"),
    ({"axes": {"seed": 0}}, "axis 'seed' must be a non-empty list"),
    ({"axes": {"seed": []}}, "axis 'seed' must be a non-empty list"),
    ({"axes": {"method": ["a"]}, "exclude": [{"methd": "a"}]},
     "exclude entry 1 names 'methd', which is neither an axis nor an include key "
     "(did you mean 'method'?)"),
    ({"axes": {"seed": [0]}, "include": {"seed": 1}}, "'include' must be a list of tables"),
    ({"axes": {"seed": [0]}, "exclude": [{}]}, "exclude entry 1 is empty"),
])
def test_bad_matrix_files_are_one_line_errors(config, message):
    with pytest.raises(AsdbenchError) as err:
        expand(config, source="m.toml")
    assert str(err.value).startswith(f"m.toml: {message}")


def test_load_matrix_names_the_file_and_defaults_the_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[axes]\nseed = [0, 1]\n"method.margin" = [0.4]\n')
    config = load_matrix(path)
    assert config["name"] == "mine"
    assert expand(config) == [{"seed": 0, "method.margin": 0.4},
                                 {"seed": 1, "method.margin": 0.4}]
    path.write_text("[axes]\nseed = 0\n")
    with pytest.raises(AsdbenchError, match="mine.toml: axis 'seed'"):
        load_matrix(path)


@pytest.mark.parametrize("name", ["../up", "a/b", "/abs", "..", ".", "", 3])
def test_a_matrix_name_must_be_one_folder_name(tmp_path, name):
    """The name becomes RESULTS/matrix/<name>/: it must not reach outside that folder."""
    with pytest.raises(AsdbenchError) as err:
        expand({"name": name, "axes": {"seed": [0]}}, source="m.toml")
    assert str(err.value) == (f"m.toml: name {name!r} must be a single folder name "
                              "(no '/', '..' or absolute path)")
    path = tmp_path / "m.toml"
    path.write_text(f"name = {json.dumps(name)}\n[axes]\nseed = [0]\n")
    with pytest.raises(AsdbenchError, match="must be a single folder name"):
        load_matrix(path)


def test_a_plain_name_with_dots_and_dashes_is_accepted():
    assert expand({"name": "table-2.v1", "axes": {"seed": [0]}}) == [{"seed": 0}]


@pytest.mark.parametrize("name, n_cells", [
    ("quick", 4), ("paper-table2", 55), ("paper-table3", 12), ("paper-table4", 15),
    ("paper-table6", 21), ("dcase-baselines", 27),
    ("synthetic-benchmark", 36), ("id-similarity", 9)])
def test_shipped_configs_expand_and_resolve(name, n_cells):
    config = load_matrix(CONFIGS / f"{name}.toml")
    assert config["name"] == name
    cells = expand(config)
    assert len(cells) == n_cells
    from asdbench.plugins import get_registry

    registry = get_registry()
    needed = {(k, c[k]) for c in cells for k in ("dataset", "method", "frontend") if k in c}
    kinds = {"dataset": "dataset", "method": "method", "frontend": "frontend"}
    missing = [n for k, n in needed if not registry.is_registered(kinds[k], n)]
    if missing:
        pytest.skip(f"plugins not installed for {missing}")
    ids = [run_id(resolve({k: v for k, v in c.items() if k != "scorers"}, registry))
           for c in cells]
    assert len(set(ids)) == n_cells  # every cell is a distinct run (scorers: not a setting)


def test_paper_table6_sweeps_the_fph_width_on_tfstgram_os_scl():
    cells = expand(load_matrix(CONFIGS / "paper-table6.toml"))
    assert {c["method.fph_reduction"] for c in cells} == {"none", 128, 64, 32, 16, 8, 4}
    # the epochs come from the authors' recipe (300), not from the file
    assert {(c["method"], c["frontend"], c["dataset"], c["recipe"]) for c in cells} == {
        ("os-scl", "tfstgram", "dcase2020", "authors")}


def test_cell_files_round_trip_through_toml(tmp_path):
    flat = {"method": "os-scl", "seed": 3, "method.margin": 0.4, "train.lr": 1e-05,
            "train.amp": False, "data.types": "fan,pump", "weird": 'q"uote\\', "lst": [1, "a"],
            "train.epochs": None}
    path = tmp_path / "cell.toml"
    path.write_text(to_toml(flat))
    back = flatten(load_toml(path))
    assert back == {k: v for k, v in flat.items() if v is not None}


# --- claims --------------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid no longer names a process
    return proc.pid


def test_claims_are_exclusive_and_released(tmp_path):
    a, b = Claims(tmp_path), Claims(tmp_path)
    assert a.acquire("cell") is not None
    assert b.acquire("cell") is None  # held by a live process (this one)
    assert a.holder("cell")["pid"] == os.getpid()
    a.release("cell")
    assert not (tmp_path / "claims" / "cell.claim").exists()
    assert b.acquire("cell") is not None


def test_stale_claims_are_taken_over(tmp_path):
    claims = Claims(tmp_path, stale_after=60)
    claims.dir.mkdir(parents=True)
    # same host, every recorded process dead
    claims.path("dead").write_text(json.dumps({"pid": dead_pid(), "child": dead_pid(),
                                               "host": claims.host}))
    # same host, the matrix died but its cell's subprocess still runs: not stale
    claims.path("orphan").write_text(json.dumps({"pid": dead_pid(), "child": os.getpid(),
                                                 "host": claims.host}))
    # another host: judged by the heartbeat (mtime) alone
    claims.path("remote-old").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    old = time.time() - 120
    os.utime(claims.path("remote-old"), (old, old))
    claims.path("remote-fresh").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    assert claims.acquire("dead") is not None
    assert claims.holder("dead")["pid"] == os.getpid()
    assert claims.acquire("orphan") is None
    assert claims.acquire("remote-old") is not None
    assert claims.acquire("remote-fresh") is None
    assert sorted(p.name for p in claims.dir.iterdir()) == [
        "dead.claim", "orphan.claim", "remote-fresh.claim", "remote-old.claim"]


def test_breaking_a_stale_claim_never_removes_a_fresh_one(tmp_path):
    claims = Claims(tmp_path)
    claims.dir.mkdir(parents=True)
    stale = {"pid": dead_pid(), "host": claims.host}
    fresh = {"pid": os.getpid(), "host": claims.host, "owner": "other"}
    # Another process broke the stale claim and took the cell after we read the stale one.
    claims.path("c").write_text(json.dumps(fresh))
    claims._break("c", stale)
    assert json.loads(claims.path("c").read_text()) == fresh


# --- running -------------------------------------------------------------------------------


def test_matrix_runs_every_cell_once_and_a_rerun_runs_nothing(tmp_path, engine_cmd):
    results = tmp_path / "results"
    results.mkdir()
    result = quiet_run(GRID, results, engine_cmd)
    assert len(result.done) == 4 and result.ok and not result.skipped
    reg = fake_registry()
    expected = {run_id(resolve(c, reg)) for c in expand(GRID)}
    assert {c["run_id"] for c in calls(results)} == expected
    assert all(is_finished(results, rid) for rid in expected)
    first = calls(results)[0]["args"]
    assert first[first.index("--results") + 1] == str(results.resolve())
    assert "--resume" in first and "--json" in first
    # each child is told the run id its settings must resolve to: the cell's own
    assert {c["args"][c["args"].index("--expect-run-id") + 1] for c in calls(results)} == expected
    cell_file = Path(first[first.index("--config") + 1])
    assert cell_file.parent == results / "matrix" / "t" / "cells"
    assert not list((results / "claims").iterdir())  # every claim released

    again = quiet_run(GRID, results, engine_cmd)
    assert len(again.skipped) == 4 and not again.done
    assert len(calls(results)) == 4
    status = json.loads((results / "matrix" / "t" / "status.json").read_text())
    assert len(status["skipped"]) == 4


def test_restart_after_a_kill_runs_only_the_missing_cells(tmp_path, engine_cmd):
    """A killed matrix leaves finished runs and a claim whose processes are dead."""
    results = tmp_path / "results"
    reg = fake_registry()
    ids = [run_id(resolve(c, reg)) for c in expand(GRID)]
    for rid in ids[:2]:  # finished before the kill
        (results / "runs" / rid).mkdir(parents=True)
        (results / "runs" / rid / "metrics.json").write_text(json.dumps({"run_id": rid}))
    (results / "runs" / ids[2]).mkdir(parents=True)  # was running: no metrics.json
    (results / "runs" / ids[3]).mkdir(parents=True)
    (results / "runs" / ids[3] / "metrics.json").write_text('{"run_id": ')  # cut short
    claims = Claims(results)
    claims.dir.mkdir(parents=True)
    claims.path(ids[2]).write_text(json.dumps({"pid": dead_pid(), "child": dead_pid(),
                                               "host": claims.host}))
    result = quiet_run(GRID, results, engine_cmd)
    assert sorted(result.skipped) == sorted(ids[:2])
    assert sorted(result.done) == sorted(ids[2:])
    assert sorted(c["run_id"] for c in calls(results)) == sorted(ids[2:])
    assert not claims.path(ids[2]).exists()


def test_a_cell_claimed_by_a_live_process_is_left_to_it(tmp_path, engine_cmd):
    results = tmp_path / "results"
    reg = fake_registry()
    ids = [run_id(resolve(c, reg)) for c in expand(GRID)]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claims = Claims(results)
        claims.dir.mkdir(parents=True)
        claims.path(ids[1]).write_text(json.dumps({"pid": other.pid, "host": claims.host}))
        result = quiet_run(GRID, results, engine_cmd)
    finally:
        other.kill()
        other.wait()
    assert result.elsewhere == [ids[1]] and not result.failed
    assert ids[1] not in {c["run_id"] for c in calls(results)}
    assert len(result.done) == 3


def test_failing_cells_are_reported_and_the_others_finish(tmp_path, engine_cmd):
    config = {"name": "f", "axes": {"method": ["arcface", "boom", "no-such-method", "os-scl"]}}
    results = tmp_path / "results"
    result = quiet_run(config, results, engine_cmd, retries=1)
    assert len(result.done) == 2
    assert len(result.failed) == 2
    errors = sorted(result.failed.values())
    assert errors[0] == "Error: the [bold]boom[/] plugin raised on purpose"
    assert errors[1].startswith("unknown method 'no-such-method'")
    records = read_failures(results, "f")
    boom = [r for r in records if r["overrides"]["method"] == "boom"]
    # run twice (one retry), the second attempt marked final; the log holds the output
    assert [(r["attempt"], r["final"], r["returncode"]) for r in boom] == [(1, False, 1), (2, True, 1)]
    assert "training..." in Path(boom[0]["log"]).read_text()
    invalid = [r for r in records if r["overrides"]["method"] == "no-such-method"]
    assert len(invalid) == 1 and invalid[0]["run_id"] is None and invalid[0]["final"]
    assert sum(c["args"] is not None for c in calls(results)) == 2 + 2  # never the invalid one


def test_retries_rescue_a_flaky_cell(tmp_path, engine_cmd):
    config = {"name": "r", "axes": {"method": ["flaky"]}}
    results = tmp_path / "results"
    assert not quiet_run(config, results, engine_cmd, retries=0).ok
    results2 = tmp_path / "results2"
    result = quiet_run(config, results2, engine_cmd, retries=1)
    assert result.ok and len(result.done) == 1 and len(calls(results2)) == 2
    assert [r["final"] for r in read_failures(results2, "r")] == [False]


# --- the result line ----------------------------------------------------------------------


@pytest.mark.parametrize("method, error", [
    ("liar", "reported run id {rid}-other, expected {rid}"),
    ("mute", "exited with status 0 but printed no result line"),
])
def test_a_cell_whose_result_line_does_not_confirm_its_run_fails(tmp_path, engine_cmd, method,
                                                                  error):
    config = {"name": "l", "axes": {"method": [method, "arcface"]}}
    results = tmp_path / "results"
    results.mkdir()
    result = quiet_run(config, results, engine_cmd)
    rid = run_id(resolve({"method": method}, fake_registry()))
    assert result.failed == {rid: error.format(rid=rid)}
    assert result.done == [run_id(resolve({"method": "arcface"}, fake_registry()))]
    [record] = read_failures(results, "l")
    assert (record["run_id"], record["returncode"], record["final"]) == (rid, 0, True)
    assert record["error"] == error.format(rid=rid)
    assert "a warning at exit" in record["tail"]  # the log's end is kept for a look


def test_the_result_line_is_the_last_line_of_the_output_that_is_one():
    line = result_line("r1", "/res/runs/r1")
    assert json.loads(line) == {"asdbench_result": {"run_id": "r1", "run_dir": "/res/runs/r1",
                                                    "status": "finished"}}
    assert "\n" not in line
    earlier = result_line("r0", "/res/runs/r0")
    out = f'{earlier}\n{{\n  "run_id": "r9"\n}}\n{line}\nWarning: at exit\n'
    assert read_result(out) == {"run_id": "r1", "run_dir": "/res/runs/r1", "status": "finished"}
    assert read_result('{"run_id": "r1"}\n{"asdbench_result": \n') is None


def test_check_result_accepts_only_the_expected_finished_run(tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    ok = result_line("r1", run)
    assert check_result(0, ok, "r1", tmp_path) == (
        f"reported finished, but {run / 'metrics.json'} is missing or not of this run")
    (run / "metrics.json").write_text(json.dumps({"run_id": "r1"}))
    assert check_result(0, ok, "r1", tmp_path) is None
    elsewhere = tmp_path / "elsewhere" / "r1"
    assert check_result(0, result_line("r1", elsewhere), "r1", tmp_path) == (
        f"reported run folder {elsewhere}, expected {run}")
    assert check_result(0, result_line("r1", run, status="started"), "r1", tmp_path) == (
        "reported status 'started', expected 'finished'")
    # a failing process: its error line, whatever it printed before
    assert check_result(1, f"{ok}\nError: disk full\n", "r1", tmp_path) == "Error: disk full"


def run_group():
    from asdbench.cli import AsdbenchGroup
    from asdbench.commands.run import command as run_command

    group = AsdbenchGroup(name="asdbench")
    group.add_command(run_command)
    return group


def test_run_refuses_settings_that_resolve_to_another_run_id(tmp_path, monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")  # the command sets it in its process
    rid = run_id(resolve({"method": "arcface"}, fake_registry()))
    out = CliRunner().invoke(run_group(), ["run", "--method", "arcface", "--results",
                                           str(tmp_path), "--expect-run-id", "other-id"])
    assert out.exit_code == 1
    assert out.output.splitlines() == [
        f"Error: the settings resolve to run id {rid}, not the expected other-id"]
    assert list(tmp_path.iterdir()) == []  # refused before training


def test_run_prints_the_result_line_last_and_the_matrix_accepts_it(tmp_path, monkeypatch):
    import types

    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    trained = []

    def train(cfg, results, resume, progress, scorers=(), reference=False):
        run = Path(results) / "runs" / cfg.run_id
        run.mkdir(parents=True)
        metrics = {"run_id": cfg.run_id, "official_protocol": "dcase2020",
                   "protocols": {"dcase2020": {"average": {"auc": 0.7}, "types": {}}}}
        (run / "metrics.json").write_text(json.dumps(metrics))
        trained.append((cfg.run_id, resume, progress))
        return metrics, RunDir(run)

    # a stand-in for the training job: no torch, no training
    from asdbench.run.rundir import RunDir

    pipeline = types.ModuleType("asdbench.run.pipeline")
    pipeline.train_and_evaluate = train
    monkeypatch.setitem(sys.modules, "asdbench.run.pipeline", pipeline)
    rid = run_id(resolve({"method": "arcface"}, fake_registry()))
    out = CliRunner().invoke(run_group(), ["run", "--method", "arcface", "--results",
                                           str(tmp_path), "--resume", "--json", "--quiet",
                                           "--expect-run-id", rid])
    assert out.exit_code == 0, out.output
    assert trained == [(rid, True, False)]
    *answer, last = out.output.splitlines()
    assert json.loads(last) == {"asdbench_result": {
        "run_id": rid, "run_dir": str(tmp_path / "runs" / rid), "status": "finished"}}
    assert json.loads("\n".join(answer))["dcase2020"] == {"auc": 0.7}  # --json, unchanged
    assert check_result(0, out.output, rid, tmp_path) is None


def test_parallel_cells_overlap_and_each_gets_its_own_gpu(tmp_path, engine_cmd):
    config = {"name": "p", "axes": {"seed": [0, 1]},
              "settings": {"method": "slow", "method.margin": 2}}  # both must run at once
    results = tmp_path / "results"
    result = quiet_run(config, results, engine_cmd, max_parallel=2, gpus=["3", "5"])
    assert len(result.done) == 2
    a, b = calls(results)
    assert a["met"] and b["met"]  # each saw the other one running
    assert {a["cuda"], b["cuda"]} == {"3", "5"}


def test_local_executor_defaults_to_one_cell_per_gpu_or_one_on_cpu():
    assert LocalExecutor(gpus=["0", "1", "2"]).capacity == 3
    assert LocalExecutor(gpus=[]).capacity == 1
    ex = LocalExecutor(gpus=[], max_parallel=2)
    assert ex.capacity == 2 and ex.describe() == "local executor, 2 at a time on CPU"
    with pytest.raises(AsdbenchError, match="--address is for --executor ray"):
        make_executor("local", address="auto")


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


@pytest.mark.parametrize("text, rc, line", [
    ("epoch 1\nError: unknown method 'x'\n", 1, "Error: unknown method 'x'"),
    ("Traceback (most recent call last):\n  File ...\nRuntimeError: CUDA out of memory\n", 1,
     "RuntimeError: CUDA out of memory"),
    ("\x1b[31mlast words\x1b[0m\n\n", 1, "last words"),
    ("epoch 3\n", -9, "killed by signal SIGKILL"),
    ("", 3, "exit status 3"),
])
def test_error_line_picks_the_line_that_says_why(text, rc, line):
    assert error_line(text, rc) == line


# --- several cells per GPU -----------------------------------------------------------------


def most_at_once(records: list[dict], cuda: str | None = None) -> int:
    """The most cells whose [start, end] overlapped (on one device when ``cuda`` is given)."""
    edges = sorted((t, d) for r in records if cuda is None or r["cuda"] == cuda
                   for t, d in ((r["start"], 1), (r["end"], -1)))
    most = now = 0
    for _, delta in edges:  # at a tie the end sorts first: touching is not overlapping
        now += delta
        most = max(most, now)
    return most


def packed_executor(engine_cmd, gpus, per_gpu, estimate=None, free=dict, used=dict, **kw):
    slots = GpuSlots(gpus, per_gpu, estimate, free_memory=free, process_memory=used,
                     refresh_s=0)
    return LocalExecutor(engine_cmd, gpus=gpus, cells_per_gpu=per_gpu, slots=slots, **kw)


PAIRS = {"name": "pk", "axes": {"seed": [0, 1, 2, 3]},
         "settings": {"method": "pair", "method.margin": 2}}


def test_two_cells_per_gpu_on_one_gpu_run_two_at_once_and_never_more(tmp_path, engine_cmd):
    results = tmp_path / "results"
    executor = packed_executor(engine_cmd, ["0"], 2)
    assert executor.capacity == 2
    result = run_matrix(PAIRS, results, registry=fake_registry(), executor=executor,
                        progress=False)
    assert len(result.done) == 4, result.failed
    records = calls(results)
    assert [r["cuda"] for r in records] == ["0"] * 4  # each child sees only device 0
    assert all(r["met"] for r in records)  # the first two waited for each other
    assert most_at_once(records) == 2


def test_two_cells_per_gpu_on_two_gpus_run_four_at_once_two_per_device(tmp_path, engine_cmd):
    config = {**PAIRS, "axes": {"seed": list(range(8))},
              "settings": {"method": "pair", "method.margin": 4}}
    results = tmp_path / "results"
    executor = packed_executor(engine_cmd, ["2", "5"], 2)
    assert executor.capacity == 4
    assert executor.describe() == "local executor, 4 at a time on 2 GPU(s), up to 2 per GPU"
    result = run_matrix(config, results, registry=fake_registry(), executor=executor,
                        progress=False)
    assert len(result.done) == 8, result.failed
    records = calls(results)
    assert sorted(r["cuda"] for r in records) == ["2"] * 4 + ["5"] * 4
    assert most_at_once(records) == 4
    assert most_at_once(records, "2") == 2 and most_at_once(records, "5") == 2


@pytest.mark.parametrize("gpus, max_parallel, per_gpu, expected", [
    (0, None, None, (1, 1)), (0, 3, 2, (3, 1)),  # on a CPU cells_per_gpu means nothing
    (1, None, None, (1, 1)), (3, None, None, (3, 1)),  # today's default: one per GPU
    (2, None, 2, (4, 2)), (2, 3, 2, (3, 2)), (2, 9, 2, (4, 2)),
    (2, 4, None, (4, 2)),  # --max-parallel alone spreads evenly, as before
])
def test_local_capacity(gpus, max_parallel, per_gpu, expected):
    assert local_capacity(gpus, max_parallel, per_gpu) == expected


def test_the_command_packs_cells_from_the_file_and_the_command_line_wins(
        tmp_path, monkeypatch, engine_cmd):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    monkeypatch.setattr(executors, "RUN_COMMAND", tuple(engine_cmd))
    monkeypatch.setattr(executors, "mps_pipe_dir", lambda: None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # a fake 1-GPU machine
    path = tmp_path / "m.toml"
    path.write_text('cells_per_gpu = 1\n[axes]\nseed = [0, 1, 2, 3]\n'
                    '[settings]\nmethod = "pair"\n"method.margin" = 2\n')
    results = tmp_path / "results"
    out = CliRunner().invoke(matrix_command, [str(path), "--results", str(results),
                                              "--cells-per-gpu", "2"])
    assert out.exit_code == 0, out.output
    assert "(local executor, 2 at a time on 1 GPU(s), up to 2 per GPU)" in out.output
    records = calls(results)
    assert [r["cuda"] for r in records] == ["7"] * 4 and most_at_once(records) == 2
    # the packing settings do not change what a cell computes: same run ids as without them
    plain = {"axes": {"seed": [0, 1, 2, 3]}, "settings": {"method": "pair", "method.margin": 2}}
    assert sorted(r["run_id"] for r in records) == sorted(
        c.run_id for c in plan({"name": "m", **plain}, fake_registry()))


def test_packing_settings_in_a_matrix_file_are_checked(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('cells_per_gpu = 4\ngpu_memory_per_cell = "6GiB"\n[axes]\nseed = [0]\n')
    assert packing(load_matrix(path)) == (4, 6 * 2**30)
    for line, message in (("cells_per_gpu = 0", "cells_per_gpu must be a whole number >= 1"),
                          ('cells_per_gpu = "2"', "cells_per_gpu must be a whole number"),
                          ("gpu_memory_per_cell = 6", "6 is not a memory size")):
        path.write_text(f"{line}\n[axes]\nseed = [0]\n")
        with pytest.raises(AsdbenchError, match=f"m.toml: .*{message}"):
            load_matrix(path)


@pytest.mark.parametrize("text, nbytes", [
    ("6GiB", 6 * 2**30), ("6 G", 6 * 2**30), ("5.5GB", 5_500_000_000), ("6000MiB", 6000 * 2**20),
    ("512mb", 512_000_000)])
def test_parse_memory(text, nbytes):
    assert parse_memory(text) == nbytes


@pytest.mark.parametrize("text", ["6", "six GiB", "6 GiBs", ""])
def test_parse_memory_needs_a_number_and_a_unit(text):
    with pytest.raises(AsdbenchError, match="is not a memory size"):
        parse_memory(text, "--gpu-memory-per-cell")


# --- the memory check ----------------------------------------------------------------------

G = 2**30


def test_a_cell_that_does_not_fit_waits_and_starts_once_memory_frees():
    free = {"0": 10 * G}
    slots = GpuSlots(["0"], 2, 6 * G, free_memory=lambda: dict(free), process_memory=dict,
                     refresh_s=0)
    assert slots.pick() == ("0", None)
    slots.place(1, "0")
    # 10 GiB free, but the cell just started will take 6 of them: 4 left for a 6 GiB cell
    assert slots.pick() == (None, None)
    assert slots.waiting == "waiting for GPU memory: a cell needs 6.0 GiB, free 0: 4.0 GiB"
    free["0"] = 14 * G  # another process let go of 4 GiB
    assert slots.pick() == ("0", None) and slots.waiting is None


def test_memory_seen_in_a_running_cell_counts_against_its_reservation():
    free = {"0": 9 * G, "1": 20 * G}
    used: dict[int, int] = {}
    slots = GpuSlots(["0", "1"], 3, 6 * G, free_memory=lambda: dict(free),
                     process_memory=lambda: dict(used), refresh_s=0)
    slots.place(1, "0")
    slots.started(1, 4242)
    assert slots.available("0", free) == 3 * G
    used[4242] = 5 * G  # it has allocated 5 of its 6 GiB: free already shows them
    free["0"] = 4 * G
    slots.sample()
    assert slots.available("0", free) == 3 * G
    assert slots.pick() == ("1", None)  # device 0 is too full, device 1 fits
    slots.place(2, "1")
    slots.release(1)  # a finished cell's peak is the measured need from now on
    assert slots.finished_peaks == [5 * G] and slots.need() == 5 * G


def test_a_full_gpu_takes_no_more_cells_however_much_memory_it_has():
    free = {"a": 100 * G, "b": 1 * G}
    slots = GpuSlots(["a", "b"], 2, 6 * G, free_memory=lambda: dict(free), process_memory=dict,
                     refresh_s=0)
    for key, gpu in ((1, "a"), (2, "a"), (3, "b")):
        slots.place(key, gpu)
    assert slots.pick() == (None, None)  # a holds its 2; b is busy and has no room
    assert slots.waiting == "waiting for GPU memory: a cell needs 6.0 GiB, free b: 0.0 GiB"


def test_a_cell_starts_on_an_idle_gpu_anyway_with_a_warning():
    slots = GpuSlots(["0"], 2, 6 * G, free_memory=lambda: {"0": 2 * G}, process_memory=dict,
                     refresh_s=0)
    gpu, note = slots.pick()
    assert gpu == "0"
    assert note == ("GPU 0: 2.0 GiB free, below the 6.0 GiB a cell needs; starting anyway "
                    "(no cell of this matrix runs there to free any)")


def test_unknown_free_memory_or_need_never_blocks():
    blind = GpuSlots(["0"], 2, 6 * G, free_memory=dict, process_memory=dict, refresh_s=0)
    blind.place(1, "0")
    assert blind.pick() == ("0", None)  # nvidia-smi missing: free memory unknown
    unsized = GpuSlots(["0"], 2, None, free_memory=lambda: {"0": 0}, process_memory=dict)
    unsized.place(1, "0")
    assert unsized.pick() == ("0", None)  # no estimate and nothing measured yet
    unsized.place(2, "0")
    assert unsized.pick() == (None, None) and unsized.waiting is None  # 2 per GPU: full


def test_the_matrix_waits_for_memory_instead_of_failing(tmp_path, engine_cmd):
    """7 GiB free and 6 GiB per cell: with room for two cells per GPU only one fits at a time;
    the other waits (it is not failed) and runs when the first one has ended."""
    config = {"name": "mem", "axes": {"seed": [0, 1]},
              "settings": {"method": "slow", "method.margin": 1}}
    results = tmp_path / "results"
    executor = packed_executor(engine_cmd, ["0"], 2, 6 * G, free=lambda: {"0": 7 * G})
    assert executor.describe() == ("local executor, 2 at a time on 1 GPU(s), up to 2 per GPU, "
                                   "6.0 GiB per cell until one is measured")
    console = Console(file=io.StringIO(), width=200)
    result = run_matrix(config, results, registry=fake_registry(), executor=executor,
                        progress=False, console=console)
    assert len(result.done) == 2 and not result.failed
    assert most_at_once(calls(results)) == 1
    out = console.file.getvalue()
    assert out.count("waiting for GPU memory: a cell needs 6.0 GiB, free 0: 1.0 GiB") == 1


class EveryPid(dict):
    """nvidia-smi's per-process figures as a fake: every process holds 5 GiB."""

    def __contains__(self, pid):
        return True

    def __getitem__(self, pid):
        return 5 * G


def test_a_cells_peak_gpu_memory_is_reported_and_becomes_the_need(tmp_path, engine_cmd):
    config = {"name": "peak", "axes": {"seed": [0]}, "settings": {"method": "arcface"}}
    results = tmp_path / "results"
    executor = packed_executor(engine_cmd, ["0"], 2, 8 * G, used=EveryPid)
    console = Console(file=io.StringIO(), width=200)
    result = run_matrix(config, results, registry=fake_registry(), executor=executor,
                        progress=False, console=console)
    (rid,) = result.done
    assert result.gpu_peaks == {rid: 5 * G}
    assert "5.0 GiB GPU memory at most" in console.file.getvalue()
    status = json.loads((results / "matrix" / "peak" / "status.json").read_text())
    assert status["gpu_peak_bytes"] == {rid: 5 * G}
    assert executor.slots.need() == 5 * G  # measured, no longer the 8 GiB estimate


def test_cuda_mps_is_detected_by_its_control_pipe(tmp_path, monkeypatch):
    assert mps_pipe_dir({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}) is None
    (tmp_path / "control").touch()
    assert mps_pipe_dir({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}) == tmp_path
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    ex = LocalExecutor(gpus=["0"], cells_per_gpu=4)
    assert ex.describe().endswith(f", up to 4 per GPU, CUDA MPS on ({tmp_path})")
    assert "MPS" not in LocalExecutor(gpus=[]).describe()  # a CPU matrix: MPS is irrelevant


# --- Ray: fractional GPUs ------------------------------------------------------------------


def test_ray_cells_ask_for_a_fraction_of_a_gpu(monkeypatch):
    assert ray_task_options(4, 1) == {"num_gpus": 1.0}
    assert ray_task_options(4, 4) == {"num_gpus": 0.25}
    assert ray_task_options(0, 4) == {"num_cpus": 1}
    asked = {}

    class FakeRay:  # what RayExecutor uses of ray, on a cluster with 2 GPUs (none started)
        is_initialized = staticmethod(lambda: True)
        cluster_resources = staticmethod(lambda: {"GPU": 2.0, "CPU": 32.0})

        @staticmethod
        def remote(**options):
            asked.update(options)
            return lambda fn: fn

    monkeypatch.setitem(sys.modules, "ray", FakeRay)
    ex = RayExecutor(cells_per_gpu=4)
    assert asked == {"max_retries": 0, "num_gpus": 0.25}
    assert ex.capacity == 8 and ex.has_room(7) and not ex.has_room(8)
    assert ex.describe() == "Ray executor, 8 at a time on 2 GPU(s), 0.25 GPU per cell"
    with pytest.raises(AsdbenchError, match="--gpu-memory-per-cell is for --executor local"):
        make_executor("ray", cells_per_gpu=2, gpu_memory_per_cell=6 * G)


# --- command line --------------------------------------------------------------------------


def test_dry_run_lists_cells_and_which_are_done(tmp_path, monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    path = tmp_path / "m.toml"
    path.write_text('name = "m"\n[axes]\nseed = [0, 1]\nmethod = ["arcface", "nope"]\n')
    results = tmp_path / "results"
    rid = run_id(resolve({"seed": 1, "method": "arcface"}, fake_registry()))
    (results / "runs" / rid).mkdir(parents=True)
    (results / "runs" / rid / "metrics.json").write_text(json.dumps({"run_id": rid}))
    out = CliRunner().invoke(matrix_command, [str(path), "--results", str(results),
                                                 "--dry-run"], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert rid in out.output
    assert "1 to run, 2 invalid, 1 done" in out.output
    assert "invalid: unknown method 'nope'" in out.output
    assert not (results / "matrix").exists()  # a dry run writes nothing


def test_the_command_runs_a_matrix_and_exits_1_on_failure(tmp_path, monkeypatch, engine_cmd):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    monkeypatch.setattr(executors, "RUN_COMMAND", tuple(engine_cmd))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # one cell at a time, on the CPU
    path = tmp_path / "m.toml"
    path.write_text('[axes]\nmethod = ["arcface", "boom"]\n')
    results = tmp_path / "results"
    out = CliRunner().invoke(matrix_command, [str(path), "--results", str(results),
                                                 "--set", "seed=4"])
    assert out.exit_code == 1
    assert "Error: the [bold]boom[/] plugin raised on purpose" in out.output
    cell_files = [Path(c["args"][c["args"].index("--config") + 1]) for c in calls(results)]
    assert len(cell_files) == 2
    assert all(load_toml(f)["seed"] == 4 for f in cell_files)  # --set reaches every cell


def test_ray_executor_without_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(AsdbenchError, match=r"pip install 'asdbench\[ray\]'"):
        RayExecutor()


# --- a real matrix -------------------------------------------------------------------------

# Tiny enough that the 4 cells (each a fresh `python -m asdbench run`) take seconds each.
TINY = {"name": "tiny", "axes": {"seed": [0, 1], "method": ["arcface", "os-scl"]},
        "settings": {"dataset": "synthetic", "frontend": "logmel", "data.types": "fan",
                     "data.ids_per_type": 2, "data.train_per_id": 8,
                     "data.test_normal_per_id": 4, "data.test_anomaly_per_id": 4,
                     "data.clip_seconds": 1.0, "train.epochs": 1, "train.batch_size": 8,
                     "train.device": "cpu"}}


def real_registry():
    from asdbench.plugins import get_registry

    registry = get_registry()
    for kind, name in (("dataset", "synthetic"), ("frontend", "logmel"), ("method", "arcface"),
                       ("method", "os-scl")):
        if not registry.is_registered(kind, name):
            pytest.skip(f"the {kind} plugin '{name}' is not installed")
    return registry


@pytest.mark.slow
def test_a_tiny_real_matrix_trains_every_cell_and_the_leaderboard_groups_seeds(tmp_path):
    from asdbench.leaderboard.collect import collect
    from asdbench.leaderboard.render import render
    from asdbench.leaderboard.tables import table

    registry = real_registry()
    results = tmp_path / "results"
    # two at a time: CI has 2 cores and most of a tiny cell is one-core start-up
    result = run_matrix(TINY, results, registry=registry,
                        executor=LocalExecutor(gpus=[], max_parallel=2), progress=False)
    assert result.ok and len(result.done) == 4, result.failed
    for rid in result.done:
        run = results / "runs" / rid
        assert {"config.json", "metrics.json", "scores.csv"} <= {p.name for p in run.iterdir()}
    df = collect(results, registry)
    # each run: its own row, its embeddings scored per ID, the reference on its clips
    # (one per seed: the two methods' references are the same measurement)
    assert len(df[df["official"] & (df["rescored"] == "")]) == 4
    assert len(df[df["official"]]) == 4 + 4 + 2
    tbl = table(df)
    assert sorted(tbl["method"]) == ["arcface", "arcface", "gaussian", "os-scl", "os-scl"]
    assert list(tbl["n"]) == [2] * 5 and set(tbl["seeds"]) == {"0,1"}
    assert tbl["average.auc_mean"].between(0, 1).all()
    assert (tbl["average.auc_std"] >= 0).all()  # two seeds: a std exists
    # the settings name the tiny recipe, identical for the trained rows
    trained = tbl[tbl["method"] != "gaussian"]
    assert trained["settings"].nunique() == 1 and "train.epochs=1" in trained["settings"].iloc[0]
    assert trained["average.lift_mean"].notna().all()
    md = render(tbl, "markdown")
    assert len([ln for ln in md.splitlines() if ln.startswith("|")]) == 2 + 5
    again = run_matrix(TINY, results, registry=registry, executor=LocalExecutor(gpus=[]),
                       progress=False)
    assert len(again.skipped) == 4 and not again.done


# --- the scorers axis ----------------------------------------------------------------------


def test_a_scorers_axis_trains_each_cell_once_and_evaluates_every_scorer(tmp_path, engine_cmd,
                                                                         monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", fake_registry)
    config = {"name": "s", "axes": {"seed": [0, 1], "scorers": ["own", "mahalanobis"]},
              "settings": {"method": "arcface"},
              "include": [{"method": "os-scl", "scorers": "knn:k=2"}]}
    cells = plan(config, fake_registry())
    assert [(c.overrides["seed"], c.overrides["method"], c.overrides["scorers"])
            for c in cells] == [(0, "arcface", ["own", "mahalanobis"]),
                                (1, "arcface", ["own", "mahalanobis"]),
                                (0, "os-scl", ["own", "knn:k=2"]),
                                (1, "os-scl", ["own", "knn:k=2"])]
    # the run id is the single-scorer run's
    assert cells[0].run_id == run_id(resolve({"seed": 0, "method": "arcface"}, fake_registry()))
    result = quiet_run(config, tmp_path, engine_cmd)
    assert result.ok and len(calls(tmp_path)) == 4  # one training per cell
    for call in calls(tmp_path):
        cell = load_toml(call["args"][call["args"].index("--config") + 1])
        assert cell["scorers"][0] == "own" and len(cell["scorers"]) == 2
    path = tmp_path / "m.toml"
    path.write_text('[axes]\nscorers = ["own", "mahalanobis"]\nmethod = ["arcface"]\n')
    out = CliRunner().invoke(matrix_command, [str(path), "--results", str(tmp_path / "r"),
                                              "--dry-run"], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert "1 to run" in out.output and "mahalanobis" in out.output


def test_scorers_must_be_scorer_specs():
    with pytest.raises(AsdbenchError, match="scorers must be scorer specs"):
        expand({"axes": {"scorers": ["own", 3]}})
    (cell,) = plan({"axes": {"scorers": ["knn:k"]}}, fake_registry())
    assert "scorers: 'knn:k'" in cell.error  # an invalid cell, as an unknown name is
