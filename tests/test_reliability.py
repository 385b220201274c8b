"""Damaged run files and bad inputs: one line on stderr, exit 1, nothing overwritten.

One tiny run is trained for the module; each case damages a copy of its folder and runs a
command on it in this process (click's CliRunner).
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import save_file

from asdbench.cli import AsdbenchGroup, add_plugin_commands, cli
from asdbench.config import resolve
from asdbench.plugins import get_registry
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.rundir import RunDir

TINY = {
    "dataset": "synthetic", "data.types": "fan,pump", "data.ids_per_type": 2,
    "data.train_per_id": 8, "data.test_normal_per_id": 3, "data.test_anomaly_per_id": 3,
    "data.clip_seconds": 1.0, "data.difficulty": 0.3, "frontend": "logmel",
    "method": "os-scl", "train.epochs": 2, "train.batch_size": 16, "train.lr": 1e-3,
    "train.device": "cpu",
}


def invoke(*args: str):
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, [str(a) for a in args])


def hashes(folder: Path) -> dict[str, str]:
    """Every file's SHA-256 but the non-learned reference's, which ``run`` adds first
    (``eval/reference/``, :mod:`asdbench.run.reference`): an addition, not a change."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).as_posix().startswith("eval/reference/")}


def assert_one_line_error(result, *needles: str) -> str:
    """Exit 1, exactly one line on stderr, no traceback, no advice to unpickle code."""
    err = result.stderr.strip()
    assert result.exit_code == 1, (result.exit_code, result.stderr, result.exception)
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Error: ") and "Traceback" not in err and "weights_only" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A finished tiny run: (its folder, one test WAV of its dataset)."""
    results = tmp_path_factory.mktemp("results")
    _, run = train_and_evaluate(resolve(TINY, get_registry()), results, progress=False)
    root = Path(json.loads(run.config_path.read_text())["data_root"])
    return run.path, sorted(root.rglob("fan/test/*.wav"))[0]


def run_copy(tiny, tmp_path: Path, *, finished: bool = True) -> RunDir:
    """A copy of the tiny run under ``tmp_path/results`` (without metrics.json: unfinished)."""
    src, _ = tiny
    run = RunDir.for_run(tmp_path / "results", src.name)
    shutil.copytree(src, run.path)
    if not finished:
        run.metrics_path.unlink()
    return run


class Evil:
    """A pickle that would create a folder when unpickled (it must never be)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _state(run: RunDir) -> dict:
    return torch.load(run.state_path, weights_only=True)


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_json(path: Path, edit) -> None:
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def _inputs(run: RunDir, **change) -> None:
    """Rewrite the scorer inputs with some arrays (or the domain metadata) replaced."""
    from safetensors import safe_open

    with safe_open(str(run.train_inputs_path), framework="numpy") as fh:
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta = fh.metadata()
    meta = {"domain": change.pop("domain", meta["domain"])}
    arrays.update(change)
    save_file({k: v for k, v in arrays.items() if v is not None}, str(run.train_inputs_path),
              metadata=meta)


# name -> (damage(run, tmp_path), what the error names)
RUN_FILES = {
    "no-config": (lambda r, t: r.config_path.unlink(), "not a run folder"),
    "no-model": (lambda r, t: r.model_path.unlink(), "model.safetensors missing"),
    "no-inputs": (lambda r, t: r.train_inputs_path.unlink(), "no train_embeddings.safetensors"),
    "config-not-json": (lambda r, t: r.config_path.write_text("{oops"), "config.json"),
    "config-no-classes": (lambda r, t: _edit_json(r.config_path, lambda o: o.pop("classes")),
                          "config.json"),
    "config-bad-audio": (lambda r, t: _edit_json(
        r.config_path, lambda o: o.update(audio={"sample_rate": "x", "clip_seconds": 1})),
        "config.json"),
    "config-extra-class": (lambda r, t: _edit_json(
        r.config_path, lambda o: o["classes"].append("valve/00")),
        "model.safetensors: weights do not fit the run's model (size mismatch"),
    "config-bad-component": (lambda r, t: _edit_json(
        r.config_path, lambda o: o["config"].pop("frontend")), "config.json"),
    "model-random": (lambda r, t: _random_bytes(r.model_path), "model.safetensors"),
    "model-truncated": (lambda r, t: _truncate(r.model_path), "model.safetensors"),
    "model-other-tensors": (lambda r, t: save_file({"w": np.ones(3, np.float32)},
                                                   str(r.model_path)), "model.safetensors"),
    "inputs-random": (lambda r, t: _random_bytes(r.train_inputs_path),
                      "train_embeddings.safetensors"),
    "inputs-truncated": (lambda r, t: _truncate(r.train_inputs_path),
                         "train_embeddings.safetensors"),
    "inputs-no-embeddings": (lambda r, t: _inputs(r, embeddings=None),
                             "train_embeddings.safetensors"),
    "inputs-bad-domain": (lambda r, t: _inputs(r, domain="{not json"),
                          "train_embeddings.safetensors"),
    "inputs-short-logits": (lambda r, t: _inputs(r, logits=np.zeros((3, 4), np.float32)),
                            "train_embeddings.safetensors"),
    "inputs-other-classes": (lambda r, t: _inputs(
        r, logits=np.zeros((32, 2), np.float32), class_index=np.zeros(32, np.int64)),
        "train_embeddings.safetensors"),
    "inputs-other-embedding-size": (lambda r, t: _inputs(
        r, embeddings=np.zeros((32, 5), np.float32)), "train_embeddings.safetensors"),
}

STATES = {
    "state-random": lambda r, t: _random_bytes(r.state_path),
    "state-truncated": lambda r, t: _truncate(r.state_path),
    "state-empty": lambda r, t: r.state_path.write_bytes(b""),
    "state-tampered-pickle": lambda r, t: torch.save({**_state(r), "x": Evil(t / "pwned")},
                                                     r.state_path),
    "state-other-run": lambda r, t: torch.save({**_state(r), "run_id": "other"}, r.state_path),
    "state-not-a-dict": lambda r, t: torch.save([1, 2], r.state_path),
    "state-missing-keys": lambda r, t: torch.save(
        {k: v for k, v in _state(r).items() if k != "optimizer"}, r.state_path),
}


def _command(name: str, run: RunDir, wav: Path) -> list:
    return {"eval": ["eval", "--run", run.path, "--device", "cpu"],
            "score": ["score", "--run", run.path, wav, "--device", "cpu"],
            "export": ["export", "--run", run.path]}[name]


# export fits the run's scorer (ce: logits only) without computing embeddings, so embeddings
# of another size do not matter to it
DAMAGE_CASES = [(case, command) for case in sorted(RUN_FILES)
                for command in ("eval", "score", "export")
                if (case, command) != ("inputs-other-embedding-size", "export")]


@pytest.mark.parametrize(("case", "command"), DAMAGE_CASES)
def test_damaged_run_file_is_one_line_naming_it(tiny, tmp_path, case, command):
    run = run_copy(tiny, tmp_path)
    damage, culprit = RUN_FILES[case]
    damage(run, tmp_path)
    before = hashes(run.path)
    err = assert_one_line_error(invoke(*_command(command, run, tiny[1])), culprit)
    if case != "no-config":  # not a run folder: nothing to recover
        assert "delete the run folder and rerun" in err
    assert hashes(run.path) == before


def _run_args(results: Path) -> list:
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    return ["run", "--results", results, "--quiet", *sets]


@pytest.mark.parametrize("case", sorted(STATES))
def test_damaged_checkpoint_is_one_line_and_never_unpickled(tiny, tmp_path, case):
    run = run_copy(tiny, tmp_path, finished=False)
    STATES[case](run, tmp_path)
    # config.json is rewritten before training starts (its provenance holds the git commit,
    # which may have moved since the tiny run): every other file must be untouched
    before = {k: v for k, v in hashes(run.path).items() if k != RunDir.CONFIG}
    result = invoke(*_run_args(tmp_path / "results"), "--resume")
    err = assert_one_line_error(result, "state.pt", "rerun without --resume")
    if case == "state-tampered-pickle":
        assert "refused" in err
    assert not (tmp_path / "pwned").exists()
    assert {k: v for k, v in hashes(run.path).items() if k != RunDir.CONFIG} == before
    assert not run.metrics_path.exists()


def test_corrupt_metrics_is_an_unfinished_run_that_resume_completes(tiny, tmp_path):
    run = run_copy(tiny, tmp_path)
    _random_bytes(run.metrics_path)
    before = hashes(run.path)
    assert_one_line_error(invoke(*_run_args(tmp_path / "results")), "--resume")
    assert hashes(run.path) == before
    result = invoke(*_run_args(tmp_path / "results"), "--resume")
    assert result.exit_code == 0, result.stderr
    assert RunDir(run.path).is_finished(run.name)
    want = json.loads((tiny[0] / RunDir.METRICS).read_text())["protocols"]
    # the resume may add the lift over the reference (issue 25); the measured numbers are equal
    assert _measured(json.loads(run.metrics_path.read_text())["protocols"]) == _measured(want)


@pytest.mark.parametrize("command", ["run", "matrix", "eval"])
def test_interrupt_advice_fits_the_command(command):
    group = AsdbenchGroup(name="asdbench")

    @group.command(command)
    def _interrupted() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(group, [command])
    assert result.exit_code == 130
    line = result.stderr.strip()
    advice = {"run": "rerun the same command with --resume",
              "matrix": "rerun the same matrix command", "eval": None}[command]
    if advice:
        assert line.startswith("interrupted: ") and advice in line
    else:
        assert line == "interrupted"
    if command == "matrix":
        assert "--resume" not in line



def _score_folder(tiny, folder: Path) -> list[Path]:
    """A folder of good clips (also as .WAV and .flac) among bad ones; returns the good ones
    as the run's dataset has them."""
    import soundfile as sf

    good = sorted(tiny[1].parent.glob("*.wav"))[:3]
    fan = folder / "fan"
    fan.mkdir(parents=True)
    shutil.copy(good[0], fan / good[0].name)
    shutil.copy(good[1], fan / (good[1].stem + ".WAV"))
    x, rate = sf.read(good[2], dtype="int16")
    sf.write(fan / (good[2].stem + ".flac"), x, rate, subtype="PCM_16")
    (fan / "broken_id_00.wav").write_bytes(b"RIFF not a wav at all")
    sf.write(fan / "short_id_00.wav", np.full(800, 0.1, np.float32), rate)
    sf.write(fan / "silent_id_00.wav", np.zeros(rate, np.float32), rate)
    sf.write(fan / "nan_id_00.wav", np.full(rate, np.nan, np.float32), rate, subtype="FLOAT")
    (folder / "misc").mkdir()
    shutil.copy(good[0], folder / "misc" / "recording.wav")  # no type folder, no id_XX
    (folder / "notes.txt").write_text("not audio")
    return good


def test_score_keeps_the_good_rows_and_reports_each_bad_file(tiny, tmp_path):
    import io

    import pandas as pd

    good = _score_folder(tiny, tmp_path / "batch")
    result = invoke("score", "--run", tiny[0], tmp_path / "batch", "--format", "csv",
                    "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout), dtype={"machine_id": str},
                        keep_default_na=False)
    assert list(frame.columns) == ["file", "machine_type", "machine_id", "score", "decision",
                                   "threshold", "threshold_rule", "error"]
    rows = {Path(f).name: r for f, r in zip(frame["file"], frame.to_dict("records"),
                                            strict=True)}
    assert len(rows) == 8 and "notes.txt" not in rows
    errors = {name: r["error"].split(":")[0] for name, r in rows.items() if r["error"]}
    assert errors == {"broken_id_00.wav": "unreadable", "short_id_00.wav": "too short",
                      "silent_id_00.wav": "silent", "nan_id_00.wav": "not finite",
                      "recording.wav": "no machine class"}
    assert all(rows[name]["score"] == "" for name in errors)
    ref = pd.read_csv(tiny[0] / RunDir.SCORES).query("machine_type == 'fan'")
    ref = dict(zip(ref["file"], ref["score"], strict=True))
    scored = {good[0].name: good[0].name, good[1].stem + ".WAV": good[1].name,
              good[2].stem + ".flac": good[2].name}
    for name, original in scored.items():
        assert rows[name]["machine_type"] == "fan" and rows[name]["error"] == ""
        assert float(rows[name]["score"]) == pytest.approx(ref[original], rel=1e-4, abs=1e-4)
    assert result.stderr.strip() == (
        "scored 3 of 8 files; 5 failed (1 no machine class, 1 not finite, 1 silent, "
        "1 too short, 1 unreadable): see the error column")


def test_score_strict_exits_2_on_a_bad_file_but_still_writes_the_rows(tiny, tmp_path):
    _score_folder(tiny, tmp_path / "batch")
    args = ["score", "--run", tiny[0], tmp_path / "batch", "--format", "json", "--device", "cpu"]
    result = invoke(*args, "--strict")
    assert result.exit_code == 2
    rows = json.loads(result.stdout)
    assert sum(r["score"] is not None for r in rows) == 3 and len(rows) == 8
    assert invoke(*args, "--type", "fan", "--id", "00").exit_code == 0


def test_score_with_type_and_id_scores_a_file_without_them_in_its_name(tiny, tmp_path):
    misc = tmp_path / "recording.wav"
    shutil.copy(tiny[1], misc)
    result = invoke("score", "--run", tiny[0], misc, "--type", "fan", "--id", "00",
                    "--format", "json", "--device", "cpu", "--strict")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["error"] == "" and row["machine_type"] == "fan" and row["machine_id"] == "00"
    assert np.isfinite(row["score"])
    assert result.stderr.strip() == "scored 1 of 1 files"


def test_score_on_a_folder_without_audio_is_one_line(tiny, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert_one_line_error(invoke("score", "--run", tiny[0], tmp_path, "--device", "cpu"),
                          "no audio files (.wav/.flac)")


def _folder_dataset(root: Path, *, train: int = 4, train_s: float = 2.0, test: bool = True,
                    test_s: float = 2.0, bad_train: bytes | None = None,
                    silent_test: bool = False) -> Path:
    """``<root>/fan/{train,test/{normal,anomaly}}`` of 16 kHz noise clips."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for i in range(train):
        path = root / "fan" / "train" / f"id_00_{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        if bad_train is not None:
            path.write_bytes(bad_train)
        else:
            sf.write(path, 0.1 * rng.standard_normal(int(16000 * train_s)), 16000)
    for label in ("normal", "anomaly") if test else ():
        path = root / "fan" / "test" / label / f"id_00_{label}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        x = np.zeros(int(16000 * test_s)) if silent_test else rng.standard_normal(
            int(16000 * test_s))
        sf.write(path, 0.1 * x, 16000)
    return root


DATA_CASES = {  # name -> (dataset, clip seconds, extra options, the cause named)
    "all-too-short": (dict(train_s=1.0, test_s=1.0), 10, (),
                      "all 6 clips too short for data.clip_seconds=10"),
    "no-test-folder": (dict(test=False), 2, (), "no test clips of the trained machines (fan)"),
    "no-test-folder-undecoded": (dict(test=False), 2, ("--no-decode",),
                                 "no test clips of the trained machines (fan)"),
    "one-training-clip": (dict(train=1), 2, (), "only 1 usable training clip"),
    "training-clips-unreadable": (dict(bad_train=b"junk"), 2, (),
                                  "no usable training clip: 4 unreadable"),
    "test-clips-silent": (dict(silent_test=True), 2, (), "no usable test clip: 2 silent"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_data_check_exits_1_naming_the_real_cause(tmp_path, case):
    layout, seconds, extra, cause = DATA_CASES[case]
    root = _folder_dataset(tmp_path / "data", **layout)
    before = hashes(root)
    result = invoke("data", "check", "--dataset", "folder", "--data-root", root,
                    "--set", f"data.clip_seconds={seconds}", "--json", *extra)
    err = assert_one_line_error(result, cause)
    assert err.startswith(f"Error: nothing usable in dataset 'folder': {cause}")
    summary = json.loads(result.stdout)
    assert summary["usable"] is False and summary["fatal"].startswith(cause)
    assert hashes(root) == before


def test_data_check_of_a_usable_dataset_exits_0(tmp_path):
    root = _folder_dataset(tmp_path / "data")
    result = invoke("data", "check", "--dataset", "folder", "--data-root", root,
                    "--set", "data.clip_seconds=2", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["usable"] is True and summary["fatal"] is None
    assert summary["classes"] == ["fan/00"]


def test_data_check_counts_the_real_cause_of_a_set_that_failed_whole(tmp_path):
    root = _folder_dataset(tmp_path / "data", train_s=1.0, test_s=1.0)
    result = invoke("data", "check", "--dataset", "folder", "--data-root", root,
                    "--set", "data.clip_seconds=10", "--json")
    assert json.loads(result.stdout)["problem_counts"] == {"too short": 6}


def _train_state(tiny):
    from asdbench.data import AudioSpec
    from asdbench.model import build_model
    from asdbench.run.loop import TrainState

    cfg = resolve(TINY, get_registry())
    info = json.loads((tiny[0] / RunDir.CONFIG).read_text())
    model = build_model(cfg, get_registry(), AudioSpec(**info["audio"]), len(info["classes"]))
    return cfg, TrainState.create(model, cfg, torch.device("cpu"))


def test_restore_loads_a_checkpoint_and_refuses_one_of_another_model(tiny, tmp_path):
    from asdbench.errors import AsdbenchError
    from asdbench.run import checkpoint

    cfg, state = _train_state(tiny)
    run = run_copy(tiny, tmp_path)
    checkpoint.restore(state, run.state_path, cfg.run_id)
    assert state.epoch == TINY["train.epochs"]
    saved = _state(run)
    name = next(k for k, v in saved["model"].items() if v.ndim == 2)
    saved["model"][name] = torch.zeros(3, 3)
    torch.save(saved, run.state_path)
    _, fresh = _train_state(tiny)
    fits = r"state\.pt: does not fit the run's model \(size mismatch"
    with pytest.raises(AsdbenchError, match=fits) as err:
        checkpoint.restore(fresh, run.state_path, cfg.run_id)
    assert "rerun without --resume" in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(params=["read-only", "full"])
def mounted_copy(request, tiny, tmp_path):
    """(kind, a copy of the tiny run on a small tmpfs made read-only or filled up); root only,
    unmounted afterwards."""
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only or full folder needs a tmpfs mount (root)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    size = sum(f.stat().st_size for f in tiny[0].rglob("*") if f.is_file()) + (4 << 20)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        run = RunDir.for_run(mnt / "results", tiny[0].name)
        shutil.copytree(tiny[0], run.path)
        if request.param == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        else:
            (run.path / RunDir.EVAL).mkdir()
            with open(mnt / "filler", "wb") as fh, pytest.raises(OSError):
                while True:
                    fh.write(b"\0" * (1 << 16))
                    fh.flush()
        yield request.param, run
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_read_only_or_full_run_folder(mounted_copy, tiny):
    kind, run = mounted_copy
    before = hashes(run.path)
    needles = (("cannot write the eval results to", "Read-only file system", "evaluate a copy")
               if kind == "read-only" else ("no space left on device", "free some space"))
    assert_one_line_error(invoke("eval", "--run", run.path, "--device", "cpu"), *needles)
    scored = invoke("score", "--run", run.path, tiny[1], "--device", "cpu", "--format", "json")
    assert scored.exit_code == 0, scored.stderr  # scoring writes nothing
    assert json.loads(scored.stdout)[0]["error"] == ""
    assert hashes(run.path) == before


def test_run_on_a_type_without_test_clips_says_so_before_training(tmp_path):
    root = _folder_dataset(tmp_path / "data", test=False)
    before = hashes(root)
    result = invoke("run", "--dataset", "folder", "--data-root", str(root), "--results",
                    str(tmp_path / "results"), "--set", "data.clip_seconds=2", "--quiet")
    assert_one_line_error(result, "has no test clips of the machines it trains on",
                          "asdbench data check")
    assert hashes(root) == before and not (tmp_path / "results" / "runs").exists()


def test_run_with_one_training_clip_says_too_few_not_diverged(tmp_path):
    root = _folder_dataset(tmp_path / "data", train=1)
    result = invoke("run", "--dataset", "folder", "--data-root", str(root), "--results",
                    str(tmp_path / "results"), "--set", "data.clip_seconds=2", "--quiet")
    message = assert_one_line_error(result, "too few training clips", "asdbench data check")
    assert "diverged" not in message


def test_a_full_disk_while_checkpointing_is_no_space_naming_the_file(tmp_path, monkeypatch):
    import errno

    from asdbench.run import checkpoint

    path = tmp_path / "state.pt"
    path.write_bytes(b"the previous checkpoint")

    def full_disk(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 320 vs 0")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(OSError) as err:
        checkpoint.save({"epoch": 1}, path)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert path.read_bytes() == b"the previous checkpoint"  # the old one is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]  # no temp file left


def _measured(value):
    """``value`` without the lift over the reference (``lift``, ``lift_ci``, ``n_ids``)."""
    if isinstance(value, dict):
        return {k: _measured(v) for k, v in value.items() if k not in ("lift", "lift_ci", "n_ids")}
    return value
