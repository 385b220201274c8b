"""RunDir: the files of a run folder, when a run counts as finished, exact round trips."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from asdbench.registry import AsdbenchError
from asdbench.run.rundir import RunDir
from asdbench.scoring import ScoringInputs


def test_paths_follow_the_results_layout(tmp_path):
    run = RunDir.for_run(tmp_path, "os-scl_logmel_x_s0_abc")
    assert run.path == tmp_path / "runs" / "os-scl_logmel_x_s0_abc"
    names = {"config_path": "config.json", "log_path": "train_log.jsonl",
             "metrics_path": "metrics.json", "scores_path": "scores.csv",
             "submission_dir": "submission", "model_path": "model.safetensors",
             "state_path": "state.pt", "train_inputs_path": "train_embeddings.safetensors"}
    for attr, name in names.items():
        assert getattr(run, attr) == run.path / name, attr
    assert run.eval_dir("1a2b") == run.path / "eval" / "1a2b"
    assert not run.path.exists()  # naming a folder creates nothing


@pytest.mark.parametrize("content", [None, "", '{"run_id": "r1", "protoc', "[1, 2]", "null"])
def test_missing_or_corrupt_metrics_is_not_finished(tmp_path, content):
    run = RunDir(tmp_path / "r1")
    if content is not None:
        run.path.mkdir()
        run.metrics_path.write_text(content)
    assert run.read_metrics() is None
    assert not run.is_finished()
    assert not run.is_finished("r1")


def test_finished_only_for_the_expected_run_id(tmp_path):
    run = RunDir(tmp_path / "r1")
    assert run.write_metrics({"run_id": "r1", "auc": np.float32(0.5)}) == {"run_id": "r1",
                                                                          "auc": 0.5}
    assert run.is_finished() and run.is_finished("r1")
    assert not run.is_finished("r2")
    run.write_metrics({"protocols": {}})  # no run id: finished, but of no known run
    assert run.is_finished() and not run.is_finished("r1")


def test_unfinished_state_is_a_checkpoint_without_metrics(tmp_path):
    run = RunDir(tmp_path / "r1")
    assert not run.has_unfinished_state()
    run.path.mkdir()
    run.state_path.write_bytes(b"x")
    assert run.has_unfinished_state()
    run.write_metrics({"run_id": "r1"})
    assert not run.has_unfinished_state()


def test_json_writer_handles_numpy_and_mappings(tmp_path):
    class Frozen(dict):
        pass

    run = RunDir(tmp_path / "r1")
    run.write_config({"config": Frozen(seed=3), "auc": np.float64(0.25), "n": np.int64(7),
                      "path": tmp_path})
    info = run.read_config()
    assert info == {"config": {"seed": 3}, "auc": 0.25, "n": 7, "path": str(tmp_path)}


def test_read_config_errors_name_the_folder(tmp_path):
    run = RunDir(tmp_path / "r1")
    with pytest.raises(AsdbenchError, match="not a run folder"):
        run.read_config()
    run.path.mkdir()
    run.config_path.write_text("{oops")
    with pytest.raises(AsdbenchError, match="corrupt"):
        run.read_config()


def test_log_append_read_and_keep(tmp_path):
    run = RunDir(tmp_path / "r1")
    assert run.read_log() == []
    for epoch in range(3):
        run.append_log({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    assert [r["epoch"] for r in run.read_log()] == [0, 1, 2]
    run.keep_log(2)
    assert run.read_log() == [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}]
    run.clear_log()
    assert not run.log_path.exists() and run.read_log() == []


def test_train_inputs_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    inputs = ScoringInputs(
        embeddings=rng.standard_normal((5, 4)).astype(np.float32),
        logits=rng.standard_normal((5, 3)).astype(np.float32),
        class_index=np.array([0, 2, 1, 1, 0]),
        domain=np.array(["source", "target", "", "target", "source"], dtype=object))
    run = RunDir(tmp_path / "r1")
    run.save_train_inputs(inputs)
    back = run.load_train_inputs()
    for name in ("embeddings", "logits", "class_index", "domain"):
        want, got = getattr(inputs, name), getattr(back, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert back.logits.any()  # kept, not zeros
    assert list(back.domain) == ["source", "target", "", "target", "source"]


def test_train_inputs_of_older_runs_still_load(tmp_path):
    """Folders written before logits and domains were kept: zero logits, source/target."""
    from safetensors.numpy import save_file

    run = RunDir(tmp_path / "r1")
    run.write_config({"classes": ["fan/00", "fan/01", "pump/00"]})
    save_file({"embeddings": np.ones((2, 4), np.float32), "class_index": np.array([0, 1]),
               "is_target": np.array([False, True])}, str(run.train_inputs_path))
    back = run.load_train_inputs()
    assert back.logits.shape == (2, 3) and not back.logits.any()
    assert list(back.domain) == ["source", "target"]


def test_missing_model_and_inputs_are_clear_errors(tmp_path):
    run = RunDir(tmp_path / "r1")
    with pytest.raises(AsdbenchError, match="model.safetensors missing"):
        run.load_model()
    with pytest.raises(AsdbenchError, match="train_embeddings.safetensors"):
        run.load_train_inputs()


def test_all_in_lists_run_folders(tmp_path):
    assert RunDir.all_in(tmp_path) == []
    for rid in ("b", "a"):
        RunDir.for_run(tmp_path, rid).path.mkdir(parents=True)
    (tmp_path / "runs" / "stray.txt").write_text("")
    assert [r.name for r in RunDir.all_in(tmp_path)] == ["a", "b"]


def test_importing_rundir_imports_no_torch():
    code = "import sys, asdbench.run.rundir; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _scores(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"file": [f"c{k}.wav" for k in range(n)], "machine_type": "fan",
                         "machine_id": "00", "domain": "source",
                         "label": [k % 2 for k in range(n)], "score": [0.5 * k for k in range(n)]})


def test_scores_are_written_with_each_clips_set_last(tmp_path):
    run = RunDir(tmp_path / "r1")
    run.path.mkdir()
    with pytest.raises(ValueError, match="'set' column"):
        run.write_scores(_scores())
    run.write_scores(_scores(), sets=["dev", "eval", "eval"])
    header = run.scores_path.read_text().splitlines()[0]
    assert header == "file,machine_type,machine_id,domain,label,score,set"
    back = run.read_scores()
    assert list(back["set"]) == ["dev", "eval", "eval"]
    assert list(back["machine_id"]) == ["00"] * 3 and list(back["score"]) == [0.0, 0.5, 1.0]
    # a frame's own set column, wherever it is, also ends up last; another path too
    frame = _scores(2).assign(set=["synthetic", "synthetic"])[["set", "file", "score"]]
    out = run.write_scores(frame, run.path / "eval" / "knn" / RunDir.SCORES)
    assert out.read_text().splitlines() == ["file,score,set", "c0.wav,0.0,synthetic",
                                            "c1.wav,0.5,synthetic"]
    assert list(run.read_scores(out)["set"]) == ["synthetic"] * 2


@pytest.mark.parametrize(("sets", "want"), [
    (None, "dev"),  # no metrics.json: the default set of asdbench.metrics.sets
    ({}, "dev"),  # metrics written before sets were kept apart
    ({"synthetic": {}}, "synthetic"),  # one set: its name
    ({"dev": {}, "eval": {}}, None),  # two sets, clips not marked: no column
])
def test_old_scores_without_a_set_column_still_load(tmp_path, sets, want):
    run = RunDir(tmp_path / "r1")
    run.path.mkdir()
    run.scores_path.write_text(_scores().to_csv(index=False))  # the old format
    if sets is not None:
        run.write_metrics({"run_id": "r1", "protocols": {}, **({"sets": sets} if sets else {})})
    back = run.read_scores()
    assert len(back) == 3 and list(back["machine_id"]) == ["00"] * 3
    if want is None:
        assert "set" not in back.columns
    else:
        assert list(back["set"]) == [want] * 3
    assert RunDir(tmp_path / "none").read_scores() is None
