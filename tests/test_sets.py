"""Test sets apart, end to end on tiny DCASE-layout trees written here: a DCASE 2020 tree
(development + additional training + evaluation test data named as in the official list) and
a DCASE 2023 tree (a development type and an evaluation type). Each run trains on every ID /
section, reports ``dev`` and ``eval`` apart with the right clip counts, writes the evaluation
submission (scores + decisions) to ``submission/`` and the development one beside it, and its
metrics are the official evaluators' formulas applied to its files."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from asdbench_datasets.dcase2020 import eval_labels
from asdbench_dcase_editions.evallists import eval_truth
from sklearn.metrics import roc_auc_score

from asdbench.config import resolve
from asdbench.metrics import default_protocols, harmonic_mean
from asdbench.metrics.sets import metrics_by_set, official_set, primary_set, set_names
from asdbench.plugins import get_registry
from asdbench.run.pipeline import train_and_evaluate

SR = 16000
TINY = {"frontend": "logmel", "method": "arcface", "scorer": "ce", "train.epochs": 1,
        "train.batch_size": 8, "train.device": "cpu", "train.lr": 1e-3,
        "data.clip_seconds": 1.0}


def wav(path: Path, seed: int, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(SR * seconds))
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, header=None, names=["file", "value"])


# --- the metrics of a score table, per set ------------------------------------------------


def test_sets_are_computed_apart_and_the_official_set_is_eval():
    rng = np.random.default_rng(0)
    rows = []
    for set_name, mtype, shift in (("dev", "fan", 0.0), ("eval", "Vacuum", 2.0)):
        for k in range(40):
            label = int(k % 2)
            rows.append({"file": f"{mtype}_{k}.wav", "machine_type": mtype, "machine_id": "00",
                         "domain": "source" if k % 4 < 2 else "target", "label": label,
                         "score": rng.normal() + label * (1.0 + shift), "set": set_name})
    frame = pd.DataFrame(rows)
    names = set_names(frame)
    assert names == ["dev", "eval"] and official_set(names) == "eval"
    assert primary_set(names) == "dev" and official_set(["dev"]) == primary_set(["dev"]) == "dev"
    sets = metrics_by_set(frame, ["dcase2022"], registry=default_protocols())
    assert {k: v["n_clips"] for k, v in sets.items()} == {"dev": 40, "eval": 40}
    dev = sets["dev"]["protocols"]["dcase2022"]
    ev = sets["eval"]["protocols"]["dcase2022"]
    assert list(dev["types"]) == ["fan"] and list(ev["types"]) == ["Vacuum"]
    assert ev["average"]["official"] > dev["average"]["official"]  # they differ, eval's higher
    part = frame[frame.set == "eval"]
    y, s, d = part["label"].to_numpy(), part["score"].to_numpy(), part["domain"].to_numpy()
    keep = {x: (d == x) | (y == 1) for x in ("source", "target")}
    want = harmonic_mean([roc_auc_score(y[keep["source"]], s[keep["source"]]),
                          roc_auc_score(y[keep["target"]], s[keep["target"]]),
                          roc_auc_score(y, s, max_fpr=0.1)])
    assert ev["average"]["official"] == pytest.approx(want)


# --- DCASE 2020 ---------------------------------------------------------------------------

DEV_IDS, EVAL_IDS = ["00", "02"], ["01", "03"]


def tree_2020(tmp: Path) -> tuple[Path, Path, dict[str, int]]:
    """fan: 2 dev IDs (6 train, 3 + 3 test each), 2 eval IDs (6 additional train each) and
    eval test clips named as in the official list (3 normal + 3 anomalous per ID)."""
    dev, ev, seed = tmp / "dev", tmp / "eval", 0
    for mid in DEV_IDS:
        for k in range(6):
            seed += 1
            wav(dev / "fan" / "train" / f"normal_id_{mid}_{k:08d}.wav", seed)
        for word in ("normal", "anomaly"):
            for k in range(3):
                seed += 1
                wav(dev / "fan" / "test" / f"{word}_id_{mid}_{k:08d}.wav", seed)
    for mid in EVAL_IDS:
        for k in range(6):
            seed += 1
            wav(ev / "fan" / "train" / f"normal_id_{mid}_{k:08d}.wav", seed)
    chosen: dict[str, int] = {}
    per = Counter()
    for name, (_, label) in eval_labels()["fan"].items():
        mid = name[3:5]
        if mid in EVAL_IDS and per[(mid, label)] < 3:
            per[(mid, label)] += 1
            chosen[name] = label
            seed += 1
            wav(ev / "fan" / "test" / name, seed)
    return dev, ev, chosen


@pytest.fixture(scope="module")
def run2020(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("d2020")
    dev, ev, chosen = tree_2020(tmp)
    cfg = resolve({**TINY, "dataset": "dcase2020", "data.root": str(dev),
                   "data.eval_root": str(ev), "data.types": "fan"}, get_registry())
    metrics, run = train_and_evaluate(cfg, tmp / "results", progress=False)
    return metrics, run.path, chosen


def test_2020_trains_on_every_id_and_reports_dev_and_eval_apart(run2020):
    m, run_dir, chosen = run2020
    info = json.loads((run_dir / "config.json").read_text())
    assert info["classes"] == [f"fan/{i}" for i in sorted(DEV_IDS + EVAL_IDS)]  # 4 classes
    assert info["data"]["train"] + info["data"]["val"] == 6 * 4
    assert m["official_protocol"] == "dcase2020" and m["official_set"] == "eval"
    assert {k: (v["n_clips"], v["n_labelled"]) for k, v in m["sets"].items()} == {
        "dev": (12, 12), "eval": (12, 12)}
    for name in ("dcase2020", "pooled"):
        dev_ids = sorted(m["sets"]["dev"]["protocols"][name]["ids"])
        ev_ids = sorted(m["sets"]["eval"]["protocols"][name]["ids"])
        assert dev_ids == ["fan/00", "fan/02"] and ev_ids == ["fan/01", "fan/03"]
    # top level: the official (eval) set's, labelled; dev under sets.dev
    assert m["set"] == "eval" and m["protocols"] == m["sets"]["eval"]["protocols"]
    assert m["sets"]["eval"]["submission"] == "submission"
    assert m["sets"]["dev"]["submission"] == "submission-dev"
    assert sorted(m["decision"]["thresholds"]) == [f"fan/{i}" for i in sorted(DEV_IDS + EVAL_IDS)]


def test_2020_eval_submission_matches_the_official_list(run2020):
    m, run_dir, chosen = run2020
    sub = run_dir / "submission"
    assert sorted(p.name for p in sub.iterdir()) == sorted(
        [f"anomaly_score_fan_id_{i}.csv" for i in EVAL_IDS]
        + [f"decision_result_fan_id_{i}.csv" for i in EVAL_IDS])
    listed = eval_labels()["fan"]
    for mid in EVAL_IDS:
        scores = read_csv(sub / f"anomaly_score_fan_id_{mid}.csv")
        want = sorted(n for n in chosen if n[3:5] == mid)
        assert scores["file"].tolist() == want and all(n in listed for n in want)
        decisions = read_csv(sub / f"decision_result_fan_id_{mid}.csv")
        assert decisions["file"].tolist() == want and set(decisions["value"]) <= {0, 1}
        threshold = m["decision"]["thresholds"][f"fan/{mid}"]["threshold"]
        assert decisions["value"].tolist() == (scores["value"] > threshold).astype(int).tolist()
    assert sorted(p.name for p in (run_dir / "submission-dev").iterdir()) == sorted(
        [f"anomaly_score_fan_id_{i}.csv" for i in DEV_IDS]
        + [f"decision_result_fan_id_{i}.csv" for i in DEV_IDS])


def test_2020_metrics_are_the_official_evaluators_formula_on_the_files(run2020):
    """The 2020 evaluator: per ID AUC and pAUC from the submission file and the ground truth,
    arithmetic mean over IDs."""
    m, run_dir, chosen = run2020
    folders = {"eval": run_dir / "submission", "dev": run_dir / "submission-dev"}
    for set_name, ids in (("eval", EVAL_IDS), ("dev", DEV_IDS)):
        aucs, paucs = [], []
        got = m["sets"][set_name]["protocols"]["dcase2020"]
        for mid in ids:
            scores = read_csv(folders[set_name] / f"anomaly_score_fan_id_{mid}.csv")
            if set_name == "eval":
                y = [chosen[f] for f in scores["file"]]
            else:
                y = [int(f.startswith("anomaly")) for f in scores["file"]]
            aucs.append(roc_auc_score(y, scores["value"]))
            paucs.append(roc_auc_score(y, scores["value"], max_fpr=0.1))
            assert got["ids"][f"fan/{mid}"]["auc"] == pytest.approx(aucs[-1])
        assert got["types"]["fan"]["auc"] == pytest.approx(np.mean(aucs))
        assert got["types"]["fan"]["pauc"] == pytest.approx(np.mean(paucs))
        assert {"precision", "recall", "f1"} <= set(got["ids"][f"fan/{ids[0]}"])


def test_2020_scores_csv_says_each_clips_set(run2020, tmp_path):
    """``scores.csv`` has each clip's set (last column, the names of metrics.json's ``sets``),
    and ``asdbench eval`` writes its own the same way."""
    from asdbench.run.service import evaluate_run

    m, run_dir, chosen = run2020
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"machine_id": str})
    assert list(scores.columns)[-1] == "set"
    counts = scores["set"].value_counts().to_dict()
    assert counts == {"dev": 12, "eval": 12} == {k: v["n_clips"] for k, v in m["sets"].items()}
    for set_name, ids in (("dev", DEV_IDS), ("eval", EVAL_IDS)):
        assert sorted(set(scores.loc[scores["set"] == set_name, "machine_id"])) == ids
    assert sorted(scores.loc[scores["set"] == "eval", "file"]) == sorted(chosen)
    copy = tmp_path / "run"  # a copy: its eval/ folder would add rows to the plot test's
    shutil.copytree(run_dir, copy)
    got = evaluate_run(copy, {}, device="cpu", progress=False)
    again = pd.read_csv(Path(got["eval_dir"]) / "scores.csv", dtype={"machine_id": str})
    assert list(again.columns) == list(scores.columns)
    assert again[["file", "set"]].equals(scores[["file", "set"]])
    np.testing.assert_allclose(again["score"], scores["score"], rtol=1e-5, atol=1e-6)


def test_2020_plots_draw_one_roc_per_set_from_that_sets_clips(run2020, tmp_path, monkeypatch):
    from asdbench.leaderboard import plots
    from asdbench.leaderboard.collect import collect
    from asdbench.leaderboard.tables import table

    m, run_dir, chosen = run2020
    drawn: list[pd.DataFrame] = []
    real = plots.roc_points

    def spy(frame: pd.DataFrame, group: str = "type") -> dict:
        drawn.append(frame.copy())
        return real(frame, group)

    monkeypatch.setattr(plots, "roc_points", spy)
    df = collect(run_dir.parents[1], get_registry())
    paths = plots.make_plots(df, table(df), tmp_path)
    names = sorted(p.name for p in paths)
    roc = [n for n in names if n.startswith("roc_")]
    assert len(roc) == 2 and roc[0].endswith("_dev_fan.png") and roc[1].endswith("_eval_fan.png")
    assert [n for n in names if n.startswith("scores_")] == [
        f"scores_{run_dir.name}_dev.png", f"scores_{run_dir.name}_eval.png"]
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"machine_id": str})
    by_ids = {tuple(sorted(set(f["machine_id"]))): f for f in drawn}
    assert len(drawn) == 2 and set(by_ids) == {tuple(DEV_IDS), tuple(EVAL_IDS)}
    for set_name, ids in (("dev", DEV_IDS), ("eval", EVAL_IDS)):
        part = scores[scores["set"] == set_name]
        assert sorted(by_ids[tuple(ids)]["file"]) == sorted(part["file"])  # that set's only


def test_plots_read_every_clip_of_a_run_older_than_sets(tmp_path):
    """A run written before sets were kept apart had one evaluation (its leaderboard set comes
    from its config): its clips, without a ``set`` column, are all that set's."""
    from asdbench.leaderboard.plots import run_scores

    rows = pd.DataFrame({"file": [f"c{k}.wav" for k in range(6)], "machine_type": "fan",
                         "machine_id": "01", "domain": "", "label": [0, 1] * 3,
                         "score": np.arange(6.0)})
    tmp_path.joinpath("scores.csv").write_text(rows.to_csv(index=False))
    tmp_path.joinpath("metrics.json").write_text(json.dumps({"run_id": "r", "protocols": {}}))
    got = run_scores(tmp_path, "eval")
    assert list(got["file"]) == list(rows["file"]) and list(got["score"]) == list(range(6))


# --- DCASE 2023 ---------------------------------------------------------------------------

DEV_TYPE, EVAL_TYPE = "fan", "Vacuum"


def tree_2023(tmp: Path) -> tuple[Path, dict[str, tuple[int, str]]]:
    """dev_data/fan (section 00: 6 source + 3 target train, 3 of each (domain, label) test)
    and eval_data/Vacuum (6 + 3 additional train, test files named as in the official list)."""
    base, seed = tmp / "dcase2023t2", 0
    for folder in (base / "dev_data" / DEV_TYPE, base / "eval_data" / EVAL_TYPE):
        for domain, n in (("source", 6), ("target", 3)):
            for k in range(n):
                seed += 1
                wav(folder / "train" / f"section_00_{domain}_train_normal_{k:04d}_a_1.wav", seed)
    for domain in ("source", "target"):
        for word in ("normal", "anomaly"):
            for k in range(3):
                seed += 1
                wav(base / "dev_data" / DEV_TYPE / "test"
                    / f"section_00_{domain}_test_{word}_{k:04d}_a_1.wav", seed)
    chosen, per = {}, Counter()
    for name, t in sorted(eval_truth(2023)[EVAL_TYPE].items()):
        if per[(t.domain, t.label)] < 3:
            per[(t.domain, t.label)] += 1
            chosen[name] = (t.label, t.domain)
            seed += 1
            wav(base / "eval_data" / EVAL_TYPE / "test" / name, seed)
    return tmp, chosen


@pytest.fixture(scope="module")
def run2023(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("d2023")
    root, chosen = tree_2023(tmp)
    cfg = resolve({**TINY, "dataset": "dcase2023", "data.root": str(root),
                   "data.types": f"{DEV_TYPE},{EVAL_TYPE}"}, get_registry())
    metrics, run = train_and_evaluate(cfg, tmp / "results", progress=False)
    return metrics, run.path, chosen


def test_2023_sets_apart_and_eval_submission_with_decisions(run2023):
    m, run_dir, chosen = run2023
    assert m["official_protocol"] == "dcase2022" and m["official_set"] == "eval"
    assert {k: v["n_clips"] for k, v in m["sets"].items()} == {"dev": 12, "eval": 12}
    assert list(m["sets"]["eval"]["protocols"]["dcase2022"]["types"]) == [EVAL_TYPE]
    assert list(m["sets"]["dev"]["protocols"]["dcase2022"]["types"]) == [DEV_TYPE]
    sub = run_dir / "submission"
    assert sorted(p.name for p in sub.iterdir()) == [
        f"anomaly_score_{EVAL_TYPE}_section_00_test.csv",
        f"decision_result_{EVAL_TYPE}_section_00_test.csv"]
    assert sorted(p.name for p in (run_dir / "submission-dev").iterdir()) == [
        f"anomaly_score_{DEV_TYPE}_section_00_test.csv",
        f"decision_result_{DEV_TYPE}_section_00_test.csv"]
    dec = read_csv(sub / f"decision_result_{EVAL_TYPE}_section_00_test.csv")
    assert dec["file"].tolist() == sorted(chosen) and set(dec["value"]) <= {0, 1}


def test_2023_metrics_are_the_2023_evaluators_formula_on_the_files(run2023):
    """AUC(source/target) on that domain's normals + all anomalies, pAUC on all clips, the
    official score their harmonic mean; precision/recall/F1 per domain from the decisions."""
    m, run_dir, chosen = run2023
    sub = run_dir / "submission"
    scores = read_csv(sub / f"anomaly_score_{EVAL_TYPE}_section_00_test.csv")
    dec = read_csv(sub / f"decision_result_{EVAL_TYPE}_section_00_test.csv")
    y = np.array([chosen[f][0] for f in scores["file"]])
    dom = np.array([chosen[f][1] for f in scores["file"]])
    s, d = scores["value"].to_numpy(), dec["value"].to_numpy()
    values = [roc_auc_score(y[(dom == x) | (y == 1)], s[(dom == x) | (y == 1)])
              for x in ("source", "target")] + [roc_auc_score(y, s, max_fpr=0.1)]
    got = m["sets"]["eval"]["protocols"]["dcase2022"]
    assert got["average"]["official"] == pytest.approx(harmonic_mean(values))
    entry = got["ids"][f"{EVAL_TYPE}/00"]
    for x in ("source", "target"):
        yy, dd = y[dom == x], d[dom == x]
        tp, fp, fn = ((dd == 1) & (yy == 1)).sum(), ((dd == 1) & (yy == 0)).sum(), \
            ((dd == 0) & (yy == 1)).sum()
        eps = np.finfo(float).eps
        p, r = tp / max(tp + fp, eps), tp / max(tp + fn, eps)
        assert entry[f"precision_{x}"] == pytest.approx(p)
        assert entry[f"recall_{x}"] == pytest.approx(r)
        assert entry[f"f1_{x}"] == pytest.approx(2 * p * r / max(p + r, eps))
    dev = m["sets"]["dev"]["protocols"]["dcase2022"]["average"]["official"]
    assert dev is not None and dev != got["average"]["official"]  # reported apart
