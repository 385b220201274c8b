"""Feedback while working: progress on stderr (plain lines when it is not a terminal, also
with --json), human labels, a resumed run's wall time, skipped clips summarised at the end of
``run``, ``describe`` resolving as ``run`` does, and --help naming the defaults that apply."""

import io
import json
import re
import time

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress

from asdbench.cli import add_plugin_commands, cli
from asdbench.commands.run import SYNTHETIC_BATCH, SYNTHETIC_EPOCHS, data_problems_line
from asdbench.config import DEFAULT_EPOCHS, resolve
from asdbench.plugins import get_registry
from asdbench.progress import PlainProgress, make_progress
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.rundir import RunDir
from asdbench.testing import TINY_RUN

TINY = {**TINY_RUN, "data.train_per_id": 8, "data.test_normal_per_id": 3,
        "data.test_anomaly_per_id": 3, "train.epochs": 3}  # smaller than TINY_RUN


def invoke(*args):
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- progress ----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_progress_prints_start_periodic_and_done_lines():
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, width=40)
    with PlainProgress(console, every=30.0, clock=clock) as bar:
        task = bar.add_task("training", total=200)
        bar.update(task, advance=50, description="epoch 1/2")
        clock.now += 29.0
        bar.advance(task, 10)  # under 30 s since the last line: quiet
        clock.now += 2.0
        bar.advance(task, 40)
        bar.update(task, advance=0, description="epoch 2/2")
        clock.now += 31.0
        bar.advance(task, 1)
        bar.advance(task, 99)
        clock.now += 50.0  # complete: no periodic line any more
        bar.advance(task, 0)
        bar.console.print("epoch   2/2  loss 1.2345  acc 0.500  val 1.1000  val acc 0.500  "
                          "9.9 clips/s  12.3 s")  # as the training loop prints it
        clock.now += 0.5
    assert out.getvalue().splitlines() == [
        "training ...",
        "training: epoch 1/2, 100/200 (50 %), 31 s",
        "training: epoch 2/2, 101/200 (50 %), 62 s",
        "epoch   2/2  loss 1.2345  acc 0.500  val 1.1000  val acc 0.500  9.9 clips/s  12.3 s",
        "training: done in 112.5 s",
    ]  # lines are not wrapped at the console's 40 columns


def test_plain_progress_ends_its_tasks_but_not_after_an_error():
    out, clock = io.StringIO(), Clock()
    with PlainProgress(Console(file=out), clock=clock) as bar:
        bar.add_task("matrix", total=None)
        clock.now += 3
    assert out.getvalue().splitlines() == ["matrix ...", "matrix: done in 3.0 s"]
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt), PlainProgress(Console(file=out)) as bar:
        bar.add_task("training", total=10)
        raise KeyboardInterrupt
    assert out.getvalue().splitlines() == ["training ..."]


def test_bars_on_a_terminal_plain_lines_elsewhere_nothing_when_off():
    assert isinstance(make_progress(True, Console(file=io.StringIO())), PlainProgress)
    terminal = make_progress(True, Console(file=io.StringIO(), force_terminal=True))
    assert isinstance(terminal, Progress) and not terminal.disable
    off = make_progress(False, Console(file=io.StringIO()))
    assert isinstance(off, Progress) and off.disable


# --- a run's feedback ----------------------------------------------------------------------


def _folder_dataset(root):
    """``fan`` with IDs 00 and 01 (1-s clips), plus clips a run skips (one too short, one
    unreadable, one silent test clip) and one it cuts (1.5 s)."""
    import soundfile as sf

    rng = np.random.default_rng(0)

    def wav(rel, seconds, scale=0.1):
        path = root / "fan" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, scale * rng.standard_normal(int(16000 * seconds)), 16000)

    for mid in ("00", "01"):
        for i in range(6):
            wav(f"train/id_{mid}_{i:03d}.wav", 1.0)
        for label in ("normal", "anomaly"):
            for i in range(2):
                wav(f"test/{label}/id_{mid}_{label}_{i}.wav", 1.0, 0.1 if label == "normal" else 0.5)
    wav("train/id_00_short.wav", 0.2)
    wav("train/id_01_long.wav", 1.5)
    (root / "fan" / "train" / "id_00_junk.wav").write_bytes(b"not audio")
    wav("test/normal/id_00_silent.wav", 1.0, 0.0)
    return root


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """``asdbench run --json`` on a folder dataset with bad clips, in this process."""
    tmp = tmp_path_factory.mktemp("feedback")
    root = _folder_dataset(tmp / "data")
    result = invoke("run", "--json", "--results", tmp / "results", "--dataset", "folder",
                    "--data-root", root, "--set", "data.clip_seconds=1", "--method", "os-scl",
                    "--frontend", "logmel", "--epochs", 2, "--batch-size", 8,
                    "--device", "cpu")
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result, root


def test_json_run_keeps_stdout_json_and_shows_plain_progress_on_stderr(json_run):
    result, _ = json_run
    out = json.loads(result.stdout)  # stdout: one JSON object and nothing else
    assert out["run_id"].startswith("os-scl_logmel_mobilefacenet_folder_s0_")
    err = result.stderr.splitlines()
    assert "decoding 15 clips ..." in err  # the training clips, before two are skipped
    assert any(re.fullmatch(r"decoding 15 clips: done in \d+\.\d s", x) for x in err), err
    assert "computing features of 13 clips ..." in err  # human words, not the cache key
    epochs = [x for x in err if x.startswith("epoch ") and "loss" in x]
    assert len(epochs) == 2, err
    assert err.index(epochs[1]) < next(i for i, x in enumerate(err)
                                        if x.startswith("training: done in "))
    assert re.match(r"epoch +2/2 +loss \d+\.\d{4} .* val \d+\.\d{4} .* \d+\.\d s( +\*)?$",
                    epochs[1]), epochs[1]
    assert not any(ch in result.stderr for ch in "━╸"), "a rich bar on a non-terminal"
    assert "features (" not in result.stderr


def test_run_summarises_skipped_clips_and_names_data_check(json_run):
    result, root = json_run
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("data: ")]
    assert line == ("data: 3 clips skipped (1 silent, 1 too short, 1 unreadable); 1 clip kept "
                    "changed (1 cut); each one: asdbench data check --dataset folder "
                    f"--data-root {root} --set data.clip_seconds=1")
    assert result.stderr.splitlines()[-1] == line  # the last word of the run


def test_no_data_line_without_problems():
    assert data_problems_line([], resolve({}, get_registry())) is None
    cfg = resolve({}, get_registry())
    line = data_problems_line([["2 test clips", "test clips of machines with no training "
                                "clips: skipped"]], cfg)
    assert line == ("data: 2 clips skipped (2 test clips of machines with no training clips); "
                    "each one: asdbench data check --dataset synthetic")


def test_resumed_run_wall_time_counts_every_part(tmp_path, killed_after_saves):
    cfg = resolve(TINY, get_registry())
    with killed_after_saves(2):
        train_and_evaluate(cfg, tmp_path, progress=False)
    run = RunDir.for_run(tmp_path, cfg.run_id)
    # the first part's two epochs, as a slow machine would have logged them
    log = run.read_log()
    assert [r["epoch"] for r in log] == [0, 1]
    run.log_path.write_text("".join(json.dumps({**r, "epoch_wall_s": 500.0}) + "\n"
                                    for r in log))
    t0 = time.perf_counter()
    metrics, _ = train_and_evaluate(cfg, tmp_path, resume=True, progress=False)
    second_part = time.perf_counter() - t0
    last = run.read_log()[-1]
    assert [r["epoch"] for r in run.read_log()] == [0, 1, 2]
    assert 1000.0 + last["epoch_wall_s"] <= metrics["wall_time_s"] <= 1000.0 + second_part


def test_earlier_wall_time_is_zero_for_a_run_in_one_part(tmp_path):
    run = RunDir(tmp_path / "r")
    for epoch, seconds in enumerate((2.0, 3.0, 4.0)):
        run.append_log({"epoch": epoch, "epoch_wall_s": seconds})
    assert run.earlier_wall_time(3) == 0.0
    assert run.earlier_wall_time(1) == 5.0
    assert run.earlier_wall_time(0) == 9.0


# --- describe and --help -------------------------------------------------------------------


def test_describe_resolves_the_run_defaults():
    got = invoke("describe", "--method", "os-scl", "--frontend", "logmel", "--json")
    assert got.exit_code == 0, got.stderr
    info = json.loads(got.stdout)
    want = resolve({"method": "os-scl", "frontend": "logmel"}, get_registry())
    assert info["config"] == json.loads(json.dumps(dict(want)))  # what `run` would train
    assert info["config"]["dataset"] == "synthetic"
    assert (info["clip_seconds"], info["sample_rate"]) == (1.0, 16000)
    types = want["data.types"].split(",")
    assert info["num_classes"] == len(types) * want["data.ids_per_type"]


def test_describe_shows_the_papers_shapes_with_dcase2020():
    got = invoke("describe", "--method", "os-scl", "--frontend", "tfstgram",
                 "--dataset", "dcase2020", "--json")
    assert got.exit_code == 0, got.stderr
    info = json.loads(got.stdout)
    assert info["input_shape"] == [3, 128, 313] and info["num_classes"] == 41
    assert "--dataset dcase2020" in " ".join(invoke("describe", "--help").stdout.split())


def test_help_states_the_defaults_that_apply():
    text = " ".join(invoke("run", "--help").stdout.split())
    synthetic = resolve({}, get_registry())
    dcase = resolve({"dataset": "dcase2020"}, get_registry())
    assert (synthetic["train.epochs"], synthetic["train.batch_size"]) == (SYNTHETIC_EPOCHS,
                                                                          SYNTHETIC_BATCH)
    assert f"{SYNTHETIC_EPOCHS} for synthetic" in text
    assert f"{dcase['train.epochs']} for dcase2020" in text
    assert f"{DEFAULT_EPOCHS} when none sets it" in text
    assert f"default {dcase['train.batch_size']}" in text
    assert f"{SYNTHETIC_BATCH} for synthetic" in text
    for kind in ("method", "frontend", "backbone", "dataset", "scorer"):
        assert f"(default {synthetic[kind]}" in text, kind
    assert "progress stays on stderr" in text


def test_data_problems_of_a_folder_without_a_readable_config_are_none(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.data_problems() == []
    run.path.mkdir()
    run.config_path.write_text("{not json")
    assert run.data_problems() == []
    run.config_path.write_text(json.dumps({"data": {"problems": [["a.wav", "silent: x"], 3]}}))
    assert run.data_problems() == [("a.wav", "silent: x")]


def test_plain_progress_prints_the_plain_text_of_rich_markup():
    import io

    from rich.console import Console

    from asdbench.progress import PlainProgress

    out = io.StringIO()
    with PlainProgress(Console(file=out, width=200)) as bar:
        task = bar.add_task("quick: [green]2 done[/], [red]0 failed[/]", total=1)
        bar.advance(task, 1)
    assert "[green]" not in out.getvalue() and "quick: 2 done, 0 failed ..." in out.getvalue()


def test_run_tables_say_dataset_set_protocol_scorer_and_recipe(capsys):
    from asdbench.commands import common

    part = {"types": {"fan": {"auc": 0.7, "pauc": 0.6}}, "average": {"auc": 0.7, "pauc": 0.6}}
    metrics = {"run_id": "r", "official_protocol": "dcase2020", "official_set": "eval",
               "config": {"dataset": "dcase2020", "scorer": "ce", "recipe": "authors"},
               "protocols": {"dcase2020": part},
               "sets": {"dev": {"n_labelled": 12, "protocols": {"dcase2020": part}},
                        "eval": {"n_labelled": 10, "protocols": {"dcase2020": part}}}}
    common.print_metrics(metrics)
    raw = capsys.readouterr().out
    assert "r: dcase2020, scorer ce, recipe authors\n" in raw  # one plain line, never wrapped
    assert max(len(line) for line in raw.splitlines()) <= 80
    out = " ".join(raw.split())
    assert ("set dev, 12 labelled clips protocol dcase2020 ┏") in out  # dev is not official
    assert "set eval, 10 labelled clips protocol dcase2020 (official)" in out
