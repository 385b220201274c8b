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
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from asdbench.claims import Claims
from asdbench.cli import add_plugin_commands, cli
from asdbench.config import resolve
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


# --- audio ---------------------------------------------------------------------------------

MEMCAP = """
import resource, sys
import numpy as np, soundfile as sf, torch, torchaudio.functional  # loaded before the cap
from asdbench.audio import read_clip
from asdbench.data import AudioSpec
vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
cap = vm + (1 << 30)  # 1 GiB more than the interpreter holds once torch is loaded
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
for rate in (44101, 16001, 8001):
    path = f"{sys.argv[1]}/r{rate}.wav"
    sf.write(path, 0.1 * np.sin(np.arange(rate) * 0.05).astype(np.float32), rate)
    notes = []
    x = read_clip(path, AudioSpec(16000, 1.0), notes=notes)
    assert x.shape == (16000,) and np.isfinite(x).all() and notes, (rate, notes)
    print(rate, "ok")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_any_sample_rate_resamples_in_bounded_memory(tmp_path):
    """A 1-s clip at 44,101 Hz (a ratio of coprime rates) under a 1 GiB memory cap."""
    out = subprocess.run([sys.executable, "-c", MEMCAP, str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["44101", "ok", "16001", "ok", "8001", "ok"]


def test_audio_settings_and_file_rates_are_bounded_in_one_line(tmp_path):
    import soundfile as sf

    from asdbench.audio import AudioError, read_clip
    from asdbench.data import AudioSpec
    from asdbench.errors import AsdbenchError

    for rate, seconds, needle in ((10**9, 1.0, "data.sample_rate"), (16000, 1e9,
                                  "data.clip_seconds"), (16000.5, 1.0, "data.sample_rate"),
                                  (16000, float("inf"), "data.clip_seconds")):
        with pytest.raises(AsdbenchError, match=needle):
            AudioSpec(rate, seconds)
    path = tmp_path / "slow.wav"
    sf.write(path, np.full(50, 0.1, np.float32), 50)  # 50 Hz: below any audio rate read
    with pytest.raises(AudioError, match="unsupported sample rate: 50 Hz"):
        read_clip(path, AudioSpec(16000, 1.0))
    out = invoke("data", "check", "--dataset", "synthetic", "--set", "data.clip_seconds=1e9")
    one_line_error(out, "data.clip_seconds")


def test_clipping_is_noted_and_the_same_for_training_and_scoring(tmp_path):
    """A float WAV beyond full scale: ``read_clip`` (what ``score`` reads) clips it to what
    the int16 cache (what ``run`` trains on) holds, and says so."""
    import soundfile as sf

    from asdbench.audio import FULL_SCALE, read_clip
    from asdbench.cache import load_waveforms
    from asdbench.data import AudioSpec, Clip

    path = tmp_path / "loud_id_00.wav"
    x = np.random.default_rng(0).normal(0, 2, 16000).astype(np.float32)
    sf.write(path, x, 16000, subtype="FLOAT")
    notes = []
    scored = read_clip(path, AudioSpec(16000, 1.0), notes=notes)
    assert scored.max() <= FULL_SCALE and scored.min() >= -1
    assert [n.split(":")[0] for n in notes] == ["clipped"]
    waves = load_waveforms([Clip(path, "fan", "00", "test")], AudioSpec(16000, 1.0),
                           cache_dir=tmp_path / "cache", progress=False)
    trained = np.asarray(waves.waves[0], np.float32) / 32768
    assert np.abs(trained - scored).max() <= 0.5 / 32768 + 1e-9
    assert waves.report.problems[0][1].startswith("clipped")


def odd_name_folder(root: Path) -> Path:
    """A ``folder`` dataset whose training clips include a name that is not UTF-8."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for split in ("train", "test/normal", "test/anomaly"):
        (root / "fan" / split).mkdir(parents=True)
        for i in range(3):
            sf.write(root / "fan" / split / f"c{i}_id_00.wav",
                     rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    odd = os.fsencode(root / "fan" / "train") + b"/odd\xff,name_id_00.wav"
    sf.write(odd, rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    return Path(os.fsdecode(odd))


def test_a_file_name_that_is_not_utf8_is_read_hashed_printed_and_written(tmp_path):
    import pandas as pd

    from asdbench.cache import waves_key
    from asdbench.data import AudioSpec, Clip
    from asdbench.metrics.submission import _lines

    odd = odd_name_folder(tmp_path / "data")
    out = invoke("data", "check", "--dataset", "folder", "--data-root", tmp_path / "data",
                 "--set", "data.clip_seconds=1")
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    assert waves_key([Clip(odd, "fan", "00", "train")], AudioSpec(16000, 1.0))
    run = RunDir(tmp_path / "run")
    frame = pd.DataFrame({"file": [odd.name, "a.wav"], "score": [1.0, 2.0], "set": "dev"})
    run.write_scores(frame)
    assert run.read_scores()["file"].tolist() == [odd.name, "a.wav"]
    assert os.fsencode(odd.name) in run.scores_path.read_bytes()  # the bytes it had
    assert _lines(pd.Series([odd.name]), [1.0]).startswith('"odd')  # its comma quoted


def test_score_gives_rows_for_good_files_when_others_fail(tiny, tmp_path):
    """Good files, a 44,101 Hz file, a non-UTF-8 name and a broken file scored together."""
    import soundfile as sf

    classes = json.loads((tiny / "config.json").read_text())["classes"]
    mtype, mid = classes[0].split("/")
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    sf.write(folder / "good.wav", rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    sf.write(folder / "r44101.wav", rng.normal(0, 0.1, 44101).astype(np.float32), 44101)
    sf.write(os.fsencode(folder) + b"/odd\xff.wav",
             rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF....not a wav")
    out = invoke("score", "--run", tiny, folder, "--type", mtype, "--id", mid,
                 "--format", "csv")
    assert out.exit_code == 0 and "Traceback" not in out.output, out.output
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(out.stdout)).fillna({"error": ""})
    table["name"] = table["file"].str.rsplit("/", n=1).str[-1]
    rows = table.set_index("name")
    assert sorted(rows.index) == ["broken.wav", "good.wav", "odd\\xff.wav", "r44101.wav"]
    assert rows.at["broken.wav", "error"].startswith("unreadable")
    good = rows.drop(index="broken.wav")
    assert (good["error"] == "").all() and good["score"].notna().all()
    assert "scored 3 of 4 files" in out.stderr


# --- files ---------------------------------------------------------------------------------


def test_every_file_of_a_run_gets_the_umasks_mode(tiny):
    """Trained under umask 0022: every file 0644 (safetensors' own writer included), so a
    teammate reading a shared results folder can score, evaluate and export the run."""
    modes = {str(p.relative_to(tiny)): stat.S_IMODE(p.stat().st_mode)
             for p in tiny.rglob("*") if p.is_file()}
    assert modes[RunDir.MODEL] == modes[RunDir.TRAIN_INPUTS] == 0o644
    assert set(modes.values()) == {0o644}, modes


def test_a_torn_log_line_and_leftover_temp_files_do_not_stop_a_resume(tiny, tmp_path):
    """Killed mid-write: half a log line and a temporary file; ``--resume`` finishes the run
    with the logged epochs intact and the leftovers gone."""
    run = copy_run(tiny, tmp_path)
    metrics = json.loads(run.metrics_path.read_text())
    run.metrics_path.unlink()
    logged = run.log_path.read_text()
    with run.log_path.open("a") as fh:
        fh.write('{"epoch": 2, "train_loss": 0.1')  # torn by a kill
    leftover = run.path / ".model.safetensors.asdtmp-abc123.tmp"
    leftover.write_bytes(b"half a model")
    assert len(run.read_log()) == len(logged.splitlines())  # the torn line is left out
    out = invoke("run", "--config", write_toml(tmp_path, TINY), "--results",
                 tmp_path / "results", "--resume", "--quiet", "--json")
    assert out.exit_code == 0, (out.output, out.exception)
    again = json.loads(run.metrics_path.read_text())["protocols"]
    for name, part in metrics["protocols"].items():  # the same model, scored again
        pairs = [(part["average"], again[name]["average"])]
        pairs += [(v, again[name][g][k]) for g in ("types", "ids") for k, v in part[g].items()]
        for before, after in pairs:
            assert {k: after[k] for k in before} == before, name
    assert run.log_path.read_text() == logged
    assert not leftover.exists()


def test_equal_training_states_are_byte_identical(tmp_path):
    import torch

    from asdbench.run import checkpoint

    state = {"run_id": "r", "w": torch.arange(6.0)}
    checkpoint.save(state, tmp_path / "a" / "state.pt")
    checkpoint.save(state, tmp_path / "b" / "state.pt")
    assert ((tmp_path / "a" / "state.pt").read_bytes()
            == (tmp_path / "b" / "state.pt").read_bytes())


# --- matrix and leaderboard ----------------------------------------------------------------


def test_a_claim_whose_pid_lives_again_is_stale_by_its_heartbeat(tmp_path):
    """A PID reused by an unrelated process (here: this one) does not keep an old claim."""
    claims = Claims(tmp_path, stale_after=60)
    claims.dir.mkdir(parents=True)
    claims.path("cell").write_text(json.dumps({"pid": os.getpid(), "host": claims.host,
                                               "owner": "matrix gone"}))
    old = time.time() - 120
    os.utime(claims.path("cell"), (old, old))
    assert claims.acquire("cell") is not None
    assert claims.holder("cell")["owner"] == ""  # taken over by this process
    fresh = Claims(tmp_path, stale_after=60)
    assert fresh.acquire("cell") is None  # a fresh claim of a live process still holds


def test_unwritable_values_fail_their_cell_and_includes_only_run_no_default_cell(tmp_path):
    import datetime

    from test_matrix import FAKE_ENGINE, fake_registry, quiet_run

    from asdbench.matrix.grid import expand

    assert expand({"include": [{"seed": 1}, {"seed": 2}]}) == [{"seed": 1}, {"seed": 2}]
    assert expand({"settings": {"seed": 3}}) == [{"seed": 3}]  # one cell of the settings
    script = tmp_path / "engine.py"
    script.write_text(FAKE_ENGINE)
    when = datetime.date(2026, 12, 8)  # TOML has dates; a cell file cannot hold one here
    config = {"name": "t", "axes": {"data.types": ["fan", when]}}
    result = quiet_run(config, tmp_path / "results", [sys.executable, str(script)])
    assert len(result.done) == 1 and len(result.failed) == 1
    assert "cannot write setting value" in next(iter(result.failed.values()))
    assert len(plan(config, fake_registry())) == 2


def test_a_grid_too_large_is_refused_in_one_line(tmp_path):
    path = tmp_path / "big.toml"
    axes = "\n".join(f'"method.o{i}" = [{", ".join(map(str, range(10)))}]' for i in range(8))
    path.write_text(f"[axes]\n{axes}\n")
    one_line_error(invoke("matrix", path, "--dry-run"), "big.toml", "100000000 cells",
                   "more than 10000")


def test_cells_start_so_the_working_directory_cannot_shadow_the_package(tmp_path):
    """A clone (or any folder named asdbench) where the matrix starts is not imported."""
    from asdbench.matrix.executors import RUN_COMMAND

    shadow = tmp_path / "asdbench"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit('the shadowing copy was imported')")
    (shadow / "__main__.py").write_text("raise SystemExit('the shadowing copy was imported')")
    out = subprocess.run([*RUN_COMMAND, "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "Train one combination" in out.stdout, out.stderr


def test_ray_cells_get_the_drivers_asdbench_environment(tmp_path, monkeypatch):
    from asdbench.matrix import executors

    monkeypatch.setenv("ASDBENCH_RESULTS", "/somewhere/results")
    env = {**executors.driver_env(), "ASDBENCH_CLAIM_TOKEN": "t"}
    monkeypatch.delenv("ASDBENCH_RESULTS")  # a worker started without it
    code = "import os; print(os.environ['ASDBENCH_RESULTS'], os.environ['ASDBENCH_CLAIM_TOKEN'])"
    rc, tail = executors._ray_run_cell([sys.executable, "-c", code], str(tmp_path / "log"), env)
    assert rc == 0 and tail.strip() == "/somewhere/results t"


def test_sigterm_stops_a_matrix_and_its_running_cell(tmp_path):
    """SIGTERM is Ctrl-C: the cell's process ends with the matrix, its claim is released."""
    import signal

    path = tmp_path / "m.toml"
    path.write_text("[settings]\n" + "\n".join(
        f'"{k}" = {json.dumps(v)}' for k, v in {**TINY, "train.epochs": 50}.items()))
    results = tmp_path / "results"
    matrix = subprocess.Popen([sys.executable, "-m", "asdbench", "matrix", str(path),
                               "--results", str(results)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child, deadline = None, time.time() + 240
    while child is None and time.time() < deadline and matrix.poll() is None:
        for claim in results.glob("claims/*.claim"):
            child = json.loads(claim.read_text() or "{}").get("child")
        time.sleep(0.2)
    assert child, matrix.communicate(timeout=60)
    matrix.send_signal(signal.SIGTERM)
    _, err = matrix.communicate(timeout=120)
    assert matrix.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # reaped by the matrix: not orphaned
    assert not list(results.glob("claims/*.claim"))


def test_the_leaderboard_keeps_one_row_per_run_and_warns_on_impossible_metrics(tiny,
                                                                               tmp_path):
    from asdbench.leaderboard.collect import collect

    run = copy_run(tiny, tmp_path)
    shutil.copytree(run.path, run.path.with_name(run.name + "-copy"))
    frame = collect(tmp_path / "results", get_registry)
    assert set(frame["run_id"]) == {run.name} and set(frame["path"]) == {str(run.path)}
    assert any("-copy" in w and "not named by its run id" in w
               for w in frame.attrs["warnings"])
    metrics = json.loads(run.metrics_path.read_text())
    metrics["protocols"]["dcase2020"]["average"]["auc"] = float("inf")
    for part in metrics["sets"].values():
        part["protocols"]["dcase2020"]["average"]["auc"] = 1.5
    run.metrics_path.write_text(json.dumps(metrics))
    frame = collect(tmp_path / "results", get_registry)
    warned = [w for w in frame.attrs["warnings"] if "outside [0, 1]" in w]
    assert len(warned) == 1 and "average.auc=1.5" in warned[0]
    assert frame.loc[frame["protocol"] == "dcase2020", "average.auc"].isna().all()


# --- settings and fetch --------------------------------------------------------------------


@pytest.mark.parametrize(("args", "needles"), [
    (("describe", "--set", f"seed={2**70}"), ("seed must be at most 4294967295",)),
    (("data", "check", "--set", "data.types=5"), ("data.types must be",)),
    (("data", "check", "--set", "data.sample_rate=100000000"), ("data.sample_rate",)),
    (("run", "--results", ""), ("--results", "an empty path")),
    (("matrix", "x.toml", "--results", " "), ("--results", "an empty path")),
    (("leaderboard", "--results", ""), ("--results", "an empty path")),
])
def test_out_of_range_settings_are_one_line_errors(args, needles):
    out = invoke(*args)
    err = out.stderr.strip().splitlines()
    assert out.exit_code in (1, 2) and "Traceback" not in out.output, out.output
    assert err[-1].startswith("Error: ") and all(n in err[-1] for n in needles), err


def test_plotting_never_writes_to_home(tmp_path):
    code = ("import os, asdbench.leaderboard.plots, matplotlib; "
            "print(os.environ['MPLCONFIGDIR']); print(matplotlib.get_cachedir())")
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"}
    out = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not any(tmp_path.iterdir())  # nothing in $HOME
    assert all(not line.startswith(str(tmp_path)) for line in out.stdout.split())


def test_score_refuses_a_duplicated_class_and_names_an_unreadable_folder(tiny, tmp_path,
                                                                         monkeypatch):
    run = copy_run(tiny, tmp_path)
    info = json.loads(run.config_path.read_text())
    wav = next(Path(info["data_root"]).rglob("*.wav"))
    info["classes"] = [info["classes"][0], *info["classes"]]
    run.config_path.write_text(json.dumps(info))
    one_line_error(invoke("score", "--run", run.path, wav), "config.json", "twice")
    (tmp_path / "in" / "locked").mkdir(parents=True)
    shutil.copy(wav, tmp_path / "in" / "a.wav")
    scandir = os.scandir

    def refuse(path="."):  # what a folder without read permission does (tests run as root)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    from asdbench.commands.score import unreadable_folders

    assert unreadable_folders([tmp_path / "in"]) == [(str(tmp_path / "in" / "locked"),
                                                      "Permission denied")]
