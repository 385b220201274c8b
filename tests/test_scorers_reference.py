"""Several scorers of one trained model, and the non-learned reference on the run's own clips
(issue 25): one training, one evaluation per scorer, one leaderboard row each; the reference's
scores as a direct Ledoit-Wolf computation gives them; the lift is model minus reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from asdbench.config import resolve
from asdbench.plugins import get_registry
from asdbench.run import pipeline
from asdbench.run.evaluations import extra_overrides, parse_scorers, spec_overrides
from asdbench.run.reference import auc_interval, lift
from asdbench.run.rundir import RunDir

TINY = {"dataset": "synthetic", "method": "arcface", "frontend": "logmel",
        "data.types": "fan,pump", "data.ids_per_type": 2, "data.train_per_id": 16,
        "data.test_normal_per_id": 6, "data.test_anomaly_per_id": 6, "data.clip_seconds": 1.0,
        "train.epochs": 1, "train.batch_size": 16, "train.device": "cpu"}


def test_scorer_specs_parse_with_options_and_own_first():
    assert parse_scorers(["mahalanobis,knn:k=3", "own", "mahalanobis"]) == [
        "own", "mahalanobis", "knn:k=3"]
    assert spec_overrides("knn:k=3") == {"scorer": "knn", "scorer.k": 3}
    assert spec_overrides("own") == {}
    cfg = {"scorer": "knn", "scorer.k": 3}
    assert extra_overrides(["own", "knn:k=3", "knn:k=5"], cfg) == [{"scorer": "knn",
                                                                     "scorer.k": 5}]
    for bad in ("knn:k", ":k=2", "own:k=2"):
        with pytest.raises(Exception, match="scorers"):
            parse_scorers([bad])


def test_lift_is_model_minus_reference_with_a_paired_interval():
    ids_a = {"fan/00": {"auc": 0.9}, "fan/01": {"auc": 0.8}, "pump/00": {"auc": 0.7}}
    ids_b = {"fan/00": {"auc": 0.8}, "fan/01": {"auc": 0.8}, "pump/00": {"auc": 0.5}}
    a = {"average": {"auc": (0.85 + 0.7) / 2}, "ids": ids_a}
    b = {"average": {"auc": (0.8 + 0.5) / 2}, "ids": ids_b}
    got = lift(a, b)
    assert got["lift"] == pytest.approx(0.125) and got["n_ids"] == 3
    assert ids_a["fan/00"]["lift"] == pytest.approx(0.1)
    # the jackknife of a per-type mean of per-ID differences: recomputed by hand
    diffs = [("fan", 0.1), ("fan", 0.0), ("pump", 0.2)]

    def stat(units):
        types = {t for t, _ in units}
        return np.mean([np.mean([d for t2, d in units if t2 == t]) for t in types])

    n = len(diffs)
    loo = np.array([stat(diffs[:i] + diffs[i + 1:]) for i in range(n)])
    pseudo = n * stat(diffs) - (n - 1) * loo
    from scipy.stats import t
    half = t.ppf(0.975, n - 1) * np.sqrt(np.sum((pseudo - pseudo.mean()) ** 2) / (n * (n - 1)))
    assert got["lift_ci"] == pytest.approx(half)
    assert auc_interval(a)[2] == 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run with two more scorers and the reference, its trainings counted."""
    results = tmp_path_factory.mktemp("results")
    cfg = resolve(TINY, get_registry())
    fits = []
    real_fit = pipeline.fit

    def counted(*args, **kw):
        fits.append(args[0]["method"])
        return real_fit(*args, **kw)

    pipeline.fit = counted
    try:
        metrics, run = pipeline.train_and_evaluate(
            cfg, results, progress=False, scorers=["own", "mahalanobis", "knn:k=2"],
            reference=True)
        again, _ = pipeline.train_and_evaluate(  # finished: nothing trained again
            cfg, results, progress=False, scorers=["own", "mahalanobis", "knn:k=2"],
            reference=True)
    finally:
        pipeline.fit = real_fit
    return {"cfg": cfg, "metrics": metrics, "run": run, "fits": fits, "results": results,
            "again": again}


@pytest.mark.slow  # one tiny training and the reference: about 40 s on 2 busy CPU cores
def test_several_scorers_train_once_and_give_a_leaderboard_row_each(trained):
    run = trained["run"]
    assert trained["fits"].count("arcface") == 1  # the reference is the other fit
    assert [p.name for p in run.evaluations()] == [
        RunDir(run.rescore_dir("knn", {"scorer": "knn", "scorer.k": 2})).path.name,
        "mahalanobis", "reference"]
    from asdbench.leaderboard.collect import collect

    rows = collect(trained["results"], get_registry())
    rows = rows[rows["protocol"] == "dcase2020"]
    assert sorted(rows["scorer"]) == ["ce", "knn", "mahalanobis", "mahalanobis"]
    assert sorted(rows["method"]) == ["arcface", "arcface", "arcface", "gaussian"]


@pytest.mark.slow
def test_an_extra_scorer_equals_asdbench_eval_with_that_scorer(trained):
    from asdbench.run.service import evaluate_run

    run = trained["run"]
    folder = run.path / RunDir.EVAL / "mahalanobis"
    mine = json.loads((folder / RunDir.METRICS).read_text())
    scores = pd.read_csv(folder / RunDir.SCORES)
    got = evaluate_run(run.path, {"scorer": "mahalanobis"}, device="cpu", progress=False)
    again = pd.read_csv(folder / RunDir.SCORES)  # `eval` wrote the same folder
    np.testing.assert_allclose(scores["score"], again["score"], rtol=1e-4)
    for proto in ("dcase2020", "pooled"):
        assert (mine["protocols"][proto]["average"]["auc"]
                == pytest.approx(got["protocols"][proto]["average"]["auc"], abs=1e-9))


@pytest.mark.slow
def test_lift_in_metrics_is_model_minus_reference(trained):
    run, metrics = trained["run"], trained["metrics"]
    ref = json.loads((run.path / "eval" / "reference" / RunDir.METRICS).read_text())
    for name, part in metrics["sets"].items():
        for proto, pm in part["protocols"].items():
            want = pm["average"]["auc"] - ref["sets"][name]["protocols"][proto]["average"]["auc"]
            assert pm["average"]["lift"] == pytest.approx(want)
    assert metrics["reference"]["run_id"] == ref["run_id"]
    assert metrics["reference"]["lift"] == pytest.approx(
        metrics["protocols"]["dcase2020"]["average"]["auc"]
        - ref["protocols"]["dcase2020"]["average"]["auc"])
    assert trained["again"]["reference"] == metrics["reference"]
    knn = next(p for p in run.evaluations() if p.name.startswith("knn"))
    assert "lift" in json.loads((knn / RunDir.METRICS).read_text())["protocols"]["pooled"][
        "average"]


@pytest.mark.slow
def test_reference_scores_equal_a_direct_ledoit_wolf_on_clip_statistics(trained):
    from sklearn.covariance import LedoitWolf

    from asdbench.audio import read_clip
    from asdbench.data import TEST
    from asdbench.run.load import load_run

    folder = trained["run"].path / "eval" / "reference"
    ref = load_run(folder, "cpu")
    cfg = ref.config
    registry = get_registry()
    dataset = registry.create("dataset", cfg["dataset"],
                              {k[5:]: v for k, v in cfg.items() if k.startswith("data.")})

    def stats(clip):
        wave = torch.from_numpy(read_clip(clip.path, ref.audio))[None]
        feats = ref.model.frontend.features(wave).float()[0]  # [C, F, T]
        return np.concatenate([feats.mean(-1).flatten(), feats.std(-1, unbiased=False)
                               .flatten()]).astype(np.float64)

    clips = dataset.clips()
    scores = pd.read_csv(folder / RunDir.SCORES, dtype={"machine_id": str, "file": str})
    checked = 0
    for key in sorted({(c.machine_type, c.machine_id) for c in clips}):
        mine = [c for c in clips if (c.machine_type, c.machine_id) == key]
        fit = LedoitWolf().fit(np.stack([stats(c) for c in mine if c.split != TEST]))
        for clip in (c for c in mine if c.split == TEST):
            d = stats(clip) - fit.location_
            row = scores[(scores["machine_type"] == key[0]) & (scores["machine_id"] == key[1])
                         & (scores["file"] == clip.file_name)]
            assert float(row["score"].iloc[0]) == pytest.approx(d @ fit.precision_ @ d,
                                                                rel=1e-3)
            checked += 1
    assert checked == 2 * 2 * 12


@pytest.mark.slow  # a one-epoch CLI run
def test_no_reference_writes_none(tmp_path):
    from click.testing import CliRunner

    from asdbench.cli import add_plugin_commands, cli

    add_plugin_commands(cli)  # idempotent
    sets = [a for k, v in TINY.items() if k.startswith(("data.", "train."))
            for a in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(cli, ["run", "--method", "arcface", "--frontend", "logmel",
                                      "--results", str(tmp_path), "--quiet", "--no-reference",
                                      "--scorers", "own", *sets])
    assert result.exit_code == 0, result.output
    (run,) = RunDir.all_in(tmp_path)
    assert run.evaluations() == [] and "reference" not in run.read_metrics()
    assert "lift" not in run.read_metrics()["protocols"]["dcase2020"]["average"]
    assert "run folder: " + str(run.path) in result.output


def test_the_leaderboard_shows_the_lift_with_its_interval_over_ids(tmp_path):
    from asdbench.leaderboard.collect import collect
    from asdbench.leaderboard.ranking import jackknife, statistic_of
    from asdbench.leaderboard.render import LIFT_CI_HEADER, formatted
    from asdbench.leaderboard.tables import table

    registry = get_registry()
    lifts = {0: {"fan/00": 0.1, "fan/01": 0.0, "pump/00": 0.3, "pump/01": 0.2},
             1: {"fan/00": 0.2, "fan/01": 0.1, "pump/00": 0.1, "pump/01": 0.2}}
    for seed, per_id in lifts.items():
        cfg = resolve({**TINY, "seed": seed}, registry)
        ids = {k: {"auc": 0.6 + v, "pauc": 0.5, "lift": v} for k, v in per_id.items()}
        average = {"auc": 0.6 + np.mean([np.mean([per_id[f"{t}/0{i}"] for i in (0, 1)])
                                         for t in ("fan", "pump")]), "pauc": 0.5}
        average["lift"] = average["auc"] - 0.6
        pm = {"average": average, "types": {}, "ids": ids}
        metrics = {"run_id": cfg.run_id, "config": cfg, "official_protocol": "dcase2020",
                   "official_set": "synthetic", "protocols": {"dcase2020": pm},
                   "sets": {"synthetic": {"protocols": {"dcase2020": pm}}}}
        RunDir.write_json(RunDir.for_run(tmp_path, cfg.run_id).metrics_path, metrics)
    tbl = table(collect(tmp_path, registry))
    out, _ = formatted(tbl)
    units = [(k.split("/")[0], {"lift": [np.mean([lifts[s][k] for s in lifts])]})
             for k in sorted(lifts[0])]
    half = jackknife(units, statistic_of("lift"))[1]
    assert out["lift vs ref."].iloc[0].startswith(f"{100 * tbl['average.lift_mean'].iloc[0]:.2f}")
    assert out[LIFT_CI_HEADER].iloc[0] == f"± {100 * half:.2f}"


def test_the_closing_table_fits_80_columns():
    from asdbench.commands.run import summary_lines

    row = {"method": "os-scl", "n_ids": 15, "lift_ci": 0.093}
    summary = {"set": "synthetic", "protocol": "dcase2020", "method": "os-scl",
               "frontend": "tfstgram", "heldout_id_accuracy": 0.854, "rows": [
                   {**row, "spec": "own", "scorer": "ce", "auc": 0.639, "ci": 0.07,
                    "lift": -0.225},
                   {**row, "spec": "mahalanobis", "scorer": "mahalanobis", "auc": 0.723,
                    "ci": 0.05, "lift": -0.141},
                   {**row, "spec": "reference", "method": "gaussian", "scorer": "mahalanobis",
                    "auc": 0.864, "ci": None, "lift": None, "lift_ci": None}]}
    lines = summary_lines(summary)
    assert max(map(len, lines)) <= 80
    assert "63.9" in lines[2] and "56.9–70.9" in lines[2] and "-22.5 ± 9.3" in lines[2]
    assert lines[4].split()[:2] == ["reference:", "clip"] and lines[-1].endswith("85.4 %")
