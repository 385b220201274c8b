"""Re-scoring belongs to the run: ``asdbench eval --scorer`` writes into the run folder, says
where, and the leaderboard shows the result as a row of that run with that scorer.

One tiny run is trained for the module; every command runs in this process (CliRunner).
"""

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli
from asdbench.config import resolve
from asdbench.leaderboard.collect import collect
from asdbench.plugins import get_registry
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.rundir import RunDir
from asdbench.testing import TINY_RUN

TINY = {**TINY_RUN, "data.train_per_id": 8, "data.test_normal_per_id": 3,
        "data.test_anomaly_per_id": 3, "train.epochs": 2}  # smaller than TINY_RUN


def invoke(*args):
    add_plugin_commands(cli)  # idempotent
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run (scorer ce) under a results folder of its own."""
    results = tmp_path_factory.mktemp("results")
    metrics, run = train_and_evaluate(resolve(TINY, get_registry()), results, progress=False)
    return results, run, metrics


@pytest.fixture
def results(trained, tmp_path):
    """A copy of the tiny run's results folder, which a test may re-score freely."""
    src, _, _ = trained
    shutil.copytree(src, tmp_path / "results")
    return tmp_path / "results"


def _run(results):
    (run,) = RunDir.all_in(results)
    return run


def test_eval_with_another_scorer_writes_into_the_run_and_says_so(results):
    run = _run(results)
    got = invoke("eval", "--run", run.path, "--scorer", "knn", "--device", "cpu", "--json")
    assert got.exit_code == 0, (got.stderr, got.exception)
    out = run.path / "eval" / "knn"
    metrics = json.loads(got.stdout)  # stdout: the JSON alone
    assert metrics["eval_dir"] == str(out)
    assert metrics["run_id"] == run.name and metrics["config"]["scorer"] == "knn"
    written = json.loads((out / "metrics.json").read_text())
    assert written["protocols"] == metrics["protocols"]
    assert written["evaluated"] == {"scorer": "knn", "scorer_options": {"k": 1},
                                    "overrides": {"scorer": "knn"}}
    rows = list(csv.DictReader(io.StringIO((out / "scores.csv").read_text())))
    assert len(rows) == 2 * 2 * 6  # every labelled test clip of the run's dataset
    line = [x for x in got.stderr.splitlines() if x.startswith("scored by")]
    assert line == [f"scored by knn (k=1); results in {out}"]


def test_scorer_options_get_a_folder_of_their_own(results):
    run = _run(results)
    got = invoke("eval", "--run", run.path, "--scorer", "knn", "--set", "scorer.k=2",
                 "--device", "cpu", "--quiet")
    assert got.exit_code == 0, (got.stderr, got.exception)
    (folder,) = run.evaluations()
    assert folder.name.startswith("knn-") and len(folder.name) == len("knn-") + 8
    assert folder == run.rescore_dir("knn", {"scorer": "knn", "scorer.k": 2})
    assert f"scored by knn (k=2); results in {folder}" in got.stderr
    # no progress with --quiet: the one line and nothing else
    assert got.stderr.strip().splitlines() == [f"scored by knn (k=2); results in {folder}"]


def test_a_rescored_run_is_a_row_of_that_run_with_that_scorer(results, trained):
    run = _run(results)
    for scorer in ("knn", "ce"):  # ce: the run's own scorer again, a repeat of its row
        got = invoke("eval", "--run", run.path, "--scorer", scorer, "--device", "cpu",
                     "--quiet")
        assert got.exit_code == 0, (got.stderr, got.exception)
    df = collect(results, get_registry())
    df = df[df["protocol"] == "dcase2020"]
    assert sorted(df["scorer"]) == ["ce", "knn"]  # the ce re-scoring repeats the trained row
    assert set(df["run_id"]) == {run.name} and set(df["seed"]) == {0}
    ce, knn = (df[df["scorer"] == s].iloc[0] for s in ("ce", "knn"))
    assert (ce["rescored"], knn["rescored"]) == ("", "knn")
    assert knn["path"] == str(run.path / "eval" / "knn")
    assert knn["track"] == ce["track"] and knn["recipe"] != ce["recipe"]
    knn_metrics = json.loads((run.path / "eval" / "knn" / "metrics.json").read_text())
    want = knn_metrics["protocols"]["dcase2020"]["average"]["auc"]
    assert knn["average.auc"] == pytest.approx(want)
    assert ce["average.auc"] == pytest.approx(
        trained[2]["protocols"]["dcase2020"]["average"]["auc"])
    assert (knn["epochs"], knn["best_epoch"]) == (ce["epochs"], ce["best_epoch"])
    # the leaderboard command ranks both rows in the run's track
    table = invoke("leaderboard", "--results", results, "--format", "csv",
                   "--protocol", "dcase2020")
    assert table.exit_code == 0, (table.stderr, table.exception)
    shown = list(csv.DictReader(io.StringIO(table.stdout)))
    assert sorted(r["scorer"] for r in shown) == ["ce", "knn"]


def test_seeds_of_rescored_runs_group_into_one_row(results, tmp_path):
    run = _run(results)
    # a second seed: the same run folder relabelled (its numbers are those of seed 0)
    twin = RunDir.for_run(results, run.name + "-s1")
    shutil.copytree(run.path, twin.path)
    for path in (twin.config_path, twin.metrics_path):
        info = json.loads(path.read_text())
        info["run_id"], info["config"]["seed"] = twin.name, 1
        path.write_text(json.dumps(info))
    for folder in (run, twin):
        got = invoke("eval", "--run", folder.path, "--scorer", "knn", "--device", "cpu",
                     "--quiet")
        assert got.exit_code == 0, (got.stderr, got.exception)
    table = invoke("leaderboard", "--results", results, "--format", "csv",
                   "--protocol", "dcase2020")
    assert table.exit_code == 0, (table.stderr, table.exception)
    shown = {r["scorer"]: r for r in csv.DictReader(io.StringIO(table.stdout))}
    assert sorted(shown) == ["ce", "knn"]
    assert shown["knn"]["n"] == shown["ce"]["n"] == "2"


def test_an_unreadable_rescoring_is_skipped_with_a_warning(results):
    run = _run(results)
    bad = run.eval_dir("knn")
    bad.mkdir(parents=True)
    (bad / "metrics.json").write_text('{"run_id": 3, "config": [1]}')
    df = collect(results, get_registry())
    assert set(df["scorer"]) == {"ce"} and set(df["rescored"]) == {""}
    assert df.attrs["warnings"] == [f"{bad / 'metrics.json'}: unreadable (TypeError: 'config' "
                                    "is not an object (list)); re-scoring skipped"]
