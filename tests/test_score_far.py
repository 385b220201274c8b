"""``asdbench score --target-far F --normal-clips DIR``: alarm thresholds at a false-alarm rate
on the user's held-out normal clips, and the rate they achieve there.

One tiny run is trained for the module (seconds); its own normal *test* clips, never trained
on, stand in for a user's held-out normal recordings.
"""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli
from asdbench.config import resolve
from asdbench.metrics.decision import false_alarm_rate, heldout_threshold
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.testing import TINY_RUN

N_NORMAL = 10  # held-out normal clips per class
TINY = {**TINY_RUN, "data.train_per_id": 8, "data.test_normal_per_id": N_NORMAL,
        "data.test_anomaly_per_id": 3, "train.epochs": 2}


def invoke(*args):
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished tiny run (scorer ce)."""
    results = tmp_path_factory.mktemp("results")
    _, run = train_and_evaluate(resolve(TINY, get_registry()), results, progress=False)
    return run.path


def _root(run_dir: Path) -> Path:
    return Path(json.loads((run_dir / "config.json").read_text())["data_root"])


def _fan_ids(run_dir: Path) -> list[str]:
    classes = json.loads((run_dir / "config.json").read_text())["classes"]
    return [c.split("/")[1] for c in classes if c.startswith("fan/")]


def _held_out(run_dir: Path, dest: Path, ids: list[str]) -> Path:
    """The run's normal fan test clips of ``ids`` copied into ``dest/fan/`` (a user's folder)."""
    (dest / "fan").mkdir(parents=True)
    for mid in ids:
        for wav in sorted((_root(run_dir) / "fan" / "test").glob(f"normal_id_{mid}_*.wav")):
            shutil.copy(wav, dest / "fan" / wav.name)
    return dest


def _score(*args) -> tuple[pd.DataFrame, str]:
    got = invoke("score", *args, "--format", "csv", "--device", "cpu")
    assert got.exit_code == 0, (got.stderr, got.exception)
    frame = pd.read_csv(io.StringIO(got.stdout), dtype={"machine_id": str},
                        keep_default_na=False)
    return frame, got.stderr


def _one_line_error(got) -> str:
    assert got.exit_code == 1, (got.stdout, got.exception)
    err = got.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_heldout_threshold_on_hand_made_scores():
    s = np.array([3.0, 0.0, 9.0, 1.0, 8.0, 2.0, 7.0, 4.0, 6.0, 5.0])  # 0..9, shuffled
    # F = 0.15: the smallest score with at most 1.5 of 10 above is 8 (one above); numpy's
    # default linear quantile, 7.65, would alarm on 2 of 10
    t, rule = heldout_threshold(s, 0.15)
    assert t == 8.0 and false_alarm_rate(s, t) == 0.1
    assert np.quantile(s, 0.85) == pytest.approx(7.65) and false_alarm_rate(s, 7.65) == 0.2
    assert rule == "quantile q=0.85 of 10 held-out normal clips (target false-alarm rate 0.15)"
    t, rule = heldout_threshold(s, 0.1)  # exactly one clip of ten may alarm
    assert t == 8.0 and rule.startswith("quantile q=0.9 of 10")
    t, rule = heldout_threshold(s, 0.05)  # below 1/10: no score but the largest will do
    assert t == 9.0 and false_alarm_rate(s, t) == 0.0
    assert rule == ("largest score of 10 held-out normal clips (target false-alarm rate 0.05 "
                    "is below 1/10: cannot be resolved with 10 clips)")
    t, _ = heldout_threshold(np.ones(4), 0.5)  # ties: none above
    assert t == 1.0 and false_alarm_rate(np.ones(4), t) == 0.0
    with pytest.raises(AsdbenchError, match="at least one clip"):
        heldout_threshold(np.array([]), 0.1)


@pytest.mark.parametrize("far", [0.15, 0.3, 0.5])
def test_threshold_is_the_heldout_clips_quantile_and_their_far_at_most_f(run_dir, tmp_path,
                                                                         far):
    held = _held_out(run_dir, tmp_path / "held", _fan_ids(run_dir))
    wavs = sorted((_root(run_dir) / "fan" / "test").glob("*.wav"))
    # the held-out clips also scored as inputs: their scores, exactly as the threshold saw them
    frame, err = _score("--run", run_dir, *wavs, *sorted((held / "fan").glob("*.wav")),
                        "--target-far", far, "--normal-clips", held)
    assert "held-out normal clips: scored 20 of 20 files" in err
    assert list(frame.columns) == ["file", "machine_type", "machine_id", "score", "decision",
                                   "threshold", "threshold_rule", "normal_far", "error"]
    for _, part in frame.groupby("machine_id"):
        normal = part.loc[part["file"].str.startswith(str(held)), "score"].to_numpy()
        assert normal.size == N_NORMAL
        want = np.quantile(normal, 1 - far, method="inverted_cdf")
        assert (part["threshold"] == want).all()
        achieved = np.mean(normal > want)
        assert achieved <= far and (part["normal_far"] == achieved).all()
        assert (part["decision"] == (part["score"] > want).astype(int)).all()
    assert set(frame["threshold_rule"]) == {
        f"quantile q={1 - far:g} of {N_NORMAL} held-out normal clips "
        f"(target false-alarm rate {far:g})"}
    # the same clips' scores as the run computed them when it was trained (to 1e-4 relative)
    ref = pd.read_csv(run_dir / "scores.csv", dtype={"machine_id": str})
    ref = ref[(ref["machine_type"] == "fan") & ref["file"].str.startswith("normal_")]
    for mid, part in ref.groupby("machine_id"):
        got = frame.loc[frame["machine_id"] == mid, "threshold"].iloc[0]
        assert got == pytest.approx(np.quantile(part["score"], 1 - far,
                                                method="inverted_cdf"), rel=1e-4)


def test_a_rate_finer_than_the_clips_resolve_takes_the_largest_score(run_dir, tmp_path):
    held = _held_out(run_dir, tmp_path / "held", _fan_ids(run_dir))
    frame, _ = _score("--run", run_dir, *sorted((held / "fan").glob("*.wav")),
                      "--target-far", 0.05, "--normal-clips", held)
    for _, part in frame.groupby("machine_id"):
        assert (part["threshold"] == part["score"].max()).all()
        assert (part["normal_far"] == 0.0).all() and (part["decision"] == 0).all()
    assert set(frame["threshold_rule"]) == {
        f"largest score of {N_NORMAL} held-out normal clips (target false-alarm rate 0.05 is "
        f"below 1/{N_NORMAL}: cannot be resolved with {N_NORMAL} clips)"}


def test_repeated_normal_clips_take_the_type_and_id_overrides(run_dir, tmp_path):
    """Files without a class in their names, classed by --type/--id as the input files are;
    one that cannot be decoded is left out of the threshold and counted."""
    mid = _fan_ids(run_dir)[0]
    src = sorted((_root(run_dir) / "fan" / "test").glob(f"normal_id_{mid}_*.wav"))
    plain = []
    for i, wav in enumerate(src):
        plain.append(tmp_path / f"recording{i}.wav")
        shutil.copy(wav, plain[-1])
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    args = [a for f in [*plain[:6], tmp_path / "broken.wav"] for a in ("--normal-clips", f)]
    frame, err = _score("--run", run_dir, *plain[6:], "--type", "fan", "--id", mid,
                        "--target-far", 0.25, *args)
    assert err.splitlines()[-1].startswith("held-out normal clips: scored 6 of 7 files; 1 failed")
    alone, _ = _score("--run", run_dir, *plain[:6], "--type", "fan", "--id", mid)
    want = np.quantile(alone["score"], 0.75, method="inverted_cdf")
    assert (frame["threshold"] == want).all()
    assert set(frame["threshold_rule"]) == {
        "quantile q=0.75 of 6 held-out normal clips (target false-alarm rate 0.25)"}


def test_without_target_far_the_runs_threshold_gets_its_heldout_far(run_dir, tmp_path):
    held = _held_out(run_dir, tmp_path / "held", _fan_ids(run_dir))
    wavs = sorted((_root(run_dir) / "fan" / "test").glob("anomaly_*.wav"))
    before, _ = _score("--run", run_dir, *wavs)
    frame, _ = _score("--run", run_dir, *wavs, "--normal-clips", held)
    assert "normal_far" not in before.columns
    shared = ["score", "decision", "threshold", "threshold_rule"]
    pd.testing.assert_frame_equal(frame[shared], before[shared])
    assert set(frame["threshold_rule"]) == {"gamma q=0.9"}
    normal, _ = _score("--run", run_dir, *sorted((held / "fan").glob("*.wav")))
    for mid, part in frame.groupby("machine_id"):
        own = normal.loc[normal["machine_id"] == mid, "score"].to_numpy()
        assert (part["normal_far"] == np.mean(own > part["threshold"].iloc[0])).all()


def test_table_caption_names_the_clips(run_dir, tmp_path):
    held = _held_out(run_dir, tmp_path / "held", _fan_ids(run_dir))
    wav = sorted((held / "fan").glob("*.wav"))[0]
    got = invoke("score", "--run", run_dir, wav, "--target-far", 0.2, "--normal-clips", held,
                 "--device", "cpu")
    assert got.exit_code == 0, (got.stderr, got.exception)
    text = " ".join(got.stdout.split())  # rich wraps the caption
    assert "threshold: quantile q=0.8 of 10 held-out normal clips (target false-alarm rate " \
           "0.2); normal_far: the fraction of the class's held-out normal clips above it" in text
    assert "┃ normal" in got.stdout.split("\n", 3)[2]  # a column too (cut to 80 characters)


def test_a_class_without_heldout_clips_is_a_one_line_error(run_dir, tmp_path):
    first, second = _fan_ids(run_dir)
    held = _held_out(run_dir, tmp_path / "held", [first])
    wavs = sorted((_root(run_dir) / "fan" / "test").glob("anomaly_*.wav"))
    got = invoke("score", "--run", run_dir, *wavs, "--target-far", 0.1, "--normal-clips", held,
                 "--device", "cpu")
    assert _one_line_error(got) == (
        f"Error: no held-out normal clip of class fan/{second} among --normal-clips, which "
        f"input files have: add normal recordings of fan id {second} (named 'id_{second}', in "
        f"a 'fan' folder) or score that class's files apart")


def test_an_empty_normal_clips_folder_is_a_one_line_error(run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    wav = sorted((_root(run_dir) / "fan" / "test").glob("*.wav"))[0]
    got = invoke("score", "--run", run_dir, wav, "--target-far", 0.1, "--normal-clips",
                 tmp_path / "empty", "--device", "cpu")
    assert _one_line_error(got) == (f"Error: --normal-clips: no audio files (.wav/.flac) in "
                                    f"{tmp_path / 'empty'}")
    got = invoke("score", "--run", run_dir, wav, "--normal-clips", tmp_path / "nowhere",
                 "--device", "cpu")
    assert _one_line_error(got) == f"Error: --normal-clips: {tmp_path / 'nowhere'}: no such " \
                                   "file or folder"


@pytest.mark.parametrize("far", ["0", "1", "1.5"])
def test_target_far_outside_0_1_with_normal_clips_is_one_line(run_dir, tmp_path, far):
    held = _held_out(run_dir, tmp_path / "held", _fan_ids(run_dir))
    got = invoke("score", "--run", run_dir, held, "--target-far", far, "--normal-clips", held)
    assert _one_line_error(got) == (f"Error: the target false-alarm rate (--target-far) must "
                                    f"be in (0, 1), e.g. 0.05; got {float(far)!r}")
