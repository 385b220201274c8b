"""Decisions: the baselines' gamma-90 % threshold, 0/1 decision files beside the anomaly-score
files, precision/recall/F1 as the evaluators compute them, and the ``decision.*`` settings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.metrics import f1_score, precision_score, recall_score

from asdbench.config import resolve
from asdbench.metrics import compute_metrics, decision_name, submission_name, write_submission
from asdbench.metrics.decision import (
    DecisionRule,
    decide,
    fit_threshold,
    fit_thresholds,
    precision_recall_f1,
    rule_label,
    training_scores,
)
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.service import run_thresholds
from asdbench.scoring import ScoringInputs

# --- thresholds ---------------------------------------------------------------------------


def test_gamma_threshold_is_the_90th_percentile_of_scipys_fit():
    scores = scipy.stats.gamma.rvs(a=2.0, loc=1.0, scale=0.5, size=400, random_state=0)
    shape, loc, scale = scipy.stats.gamma.fit(scores)
    want = scipy.stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
    got, how = fit_threshold(scores, DecisionRule())
    assert how == "gamma" and got == pytest.approx(want, rel=1e-12)
    # and it is where the true distribution's 90 % point is, give or take the sampling
    assert got == pytest.approx(scipy.stats.gamma.ppf(0.9, 2.0, loc=1.0, scale=0.5), rel=0.05)
    got80, _ = fit_threshold(scores, DecisionRule("gamma", 0.8))
    assert got80 == pytest.approx(scipy.stats.gamma.ppf(0.8, shape, loc=loc, scale=scale))
    assert got80 < got


def test_quantile_rule_and_the_fallback_for_scores_a_gamma_cannot_fit():
    scores = np.arange(1.0, 11.0)
    assert fit_threshold(scores, DecisionRule("quantile", 0.9)) == (
        pytest.approx(np.quantile(scores, 0.9)), "quantile")
    assert fit_threshold(np.array([2.0, 2.0, 2.0]), DecisionRule()) == (
        2.0, "quantile (gamma fit impossible)")
    with pytest.raises(AsdbenchError, match="decision.rule must be one of gamma, quantile"):
        DecisionRule("median")
    with pytest.raises(AsdbenchError, match=r"decision.percentile must be in \(0, 1\)"):
        DecisionRule("gamma", 1.0)


def test_thresholds_per_machine_and_decisions_above_them():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"machine_type": ["fan"] * 60 + ["pump"] * 60,
                          "machine_id": ["00"] * 30 + ["02"] * 30 + ["00"] * 60,
                          "score": np.concatenate([rng.gamma(2.0, 1.0, 30),
                                                   5 + rng.gamma(2.0, 1.0, 30),
                                                   rng.gamma(3.0, 2.0, 60)])})
    th = fit_thresholds(train, DecisionRule())
    assert sorted(th) == ["fan/00", "fan/02", "pump/00"]
    for key, (mtype, mid) in {"fan/00": ("fan", "00"), "fan/02": ("fan", "02"),
                              "pump/00": ("pump", "00")}.items():
        s = train.loc[(train.machine_type == mtype) & (train.machine_id == mid), "score"]
        assert th[key]["threshold"] == pytest.approx(fit_threshold(s.to_numpy(),
                                                                   DecisionRule())[0])
        assert th[key]["n_train"] == len(s) and th[key]["fit"] == "gamma"
    t = th["fan/02"]["threshold"]
    test = pd.DataFrame({"machine_type": ["fan", "fan", "fan"], "machine_id": ["02"] * 3,
                         "score": [t - 1e-9, t, t + 1e-9]})
    assert decide(test, th).tolist() == [0, 0, 1]  # above the threshold, not at it
    with pytest.raises(AsdbenchError, match="no decision threshold for valve/00"):
        decide(pd.DataFrame({"machine_type": ["valve"], "machine_id": ["00"], "score": [1.0]}),
               th)


def test_thresholds_are_fitted_on_the_training_clips_scored_held_out():
    # one class, four clips at 0, 60, 90 and 180 degrees: cosine distances 0-60 0.5,
    # 60-90 1 - cos(30 deg), 0-90 1, 90-180 1; each clip's nearest *other* clip
    angles = np.radians([0.0, 60.0, 90.0, 180.0])
    emb = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    train = ScoringInputs(emb, np.zeros((4, 1), np.float32), np.zeros(4))
    knn = get_registry().create("scorer", "knn", {"k": 1})
    knn.fit(train)
    loo = [0.5, 1 - np.sqrt(3) / 2, 1 - np.sqrt(3) / 2, 1.0]
    np.testing.assert_allclose(training_scores(knn, train), loo, atol=1e-6)
    rule = DecisionRule("quantile", 0.5)
    assert fit_threshold(training_scores(knn, train), rule)[0] == pytest.approx(
        np.quantile(loo, 0.5), abs=1e-6)
    # scored in-sample every clip is at distance 0 from itself: a threshold of 0
    assert fit_threshold(knn.score(train), rule)[0] == pytest.approx(0.0, abs=1e-6)

    class Plain:  # a scorer without score_train: its score() of the training clips
        def score(self, inputs):
            return np.arange(len(inputs), dtype=np.float32)

    got = training_scores(Plain(), train)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_precision_recall_f1_as_the_evaluators_and_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 50)
    d = rng.integers(0, 2, 50)
    got = precision_recall_f1(y, d)
    assert got["precision"] == pytest.approx(precision_score(y, d))
    assert got["recall"] == pytest.approx(recall_score(y, d))
    assert got["f1"] == pytest.approx(f1_score(y, d))
    # no positive decision: 0, not a division error (denominators floored at epsilon)
    assert precision_recall_f1(np.array([0, 1]), np.array([0, 0])) == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0}


# --- files and metrics ----------------------------------------------------------------------


def _table(domains: bool) -> pd.DataFrame:
    rows = []
    for mid in ("00", "01"):
        for k, (label, dom) in enumerate([(0, "source"), (0, "source"), (1, "source"),
                                          (0, "target"), (1, "target"), (1, "target")]):
            rows.append({"file": f"{mid}_{k}.wav", "machine_type": "fan", "machine_id": mid,
                         "domain": dom if domains else "", "label": label,
                         "score": float(k + int(mid)), "decision": int(k % 2)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("layout", ["id", "section", "section_domain"])
def test_decision_files_sit_beside_the_score_files_with_0_1_per_clip(tmp_path, layout):
    df = _table(domains=layout != "id")
    written = write_submission(df, tmp_path, layout=layout)
    scores = sorted(p.name for p in written if p.name.startswith("anomaly_score_"))
    decisions = sorted(p.name for p in written if p.name.startswith("decision_result_"))
    assert len(scores) == len(decisions) == (4 if layout == "section_domain" else 2)
    assert [n.replace("decision_result_", "anomaly_score_") for n in decisions] == scores
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(scores + decisions)
    for name in decisions:
        dec = pd.read_csv(tmp_path / name, header=None, dtype={1: str})
        sco = pd.read_csv(tmp_path / name.replace("decision_result_", "anomaly_score_"),
                          header=None)
        assert dec[0].tolist() == sco[0].tolist()  # same clips, same order
        assert set(dec[1]) <= {"0", "1"}
        want = df.set_index("file").loc[dec[0], "decision"].astype(str).tolist()
        assert dec[1].tolist() == want
    assert decision_name("fan", "03", "target", "section_domain") == \
        "decision_result_fan_section_03_target_test.csv"
    assert decision_name("ToyCar", "05") == "decision_result_ToyCar_id_05.csv"
    assert submission_name("ToyCar", "05") == "anomaly_score_ToyCar_id_05.csv"
    # no decisions, no decision files (a table from before decisions existed)
    plain = write_submission(df.drop(columns="decision"), tmp_path / "plain", layout=layout)
    assert all(p.name.startswith("anomaly_score_") for p in plain)


def _by_hand(df: pd.DataFrame) -> dict:
    y, d = df["label"].to_numpy(), df["decision"].to_numpy()
    tp, fp, fn = ((d == 1) & (y == 1)).sum(), ((d == 1) & (y == 0)).sum(), \
        ((d == 0) & (y == 1)).sum()
    p = tp / max(tp + fp, np.finfo(float).eps)
    r = tp / max(tp + fn, np.finfo(float).eps)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, np.finfo(float).eps)}


def test_decision_metrics_next_to_auc_per_section_and_domain():
    df = _table(domains=True)
    m = compute_metrics(df, "dcase2022")
    for mid in ("00", "01"):
        entry = m["ids"][f"fan/{mid}"]
        sec = df[df.machine_id == mid]
        for dom in ("source", "target"):  # as the 2023 evaluator: that domain's clips
            want = _by_hand(sec[sec.domain == dom])
            assert entry[f"precision_{dom}"] == pytest.approx(want["precision"])
            assert entry[f"recall_{dom}"] == pytest.approx(want["recall"])
            assert entry[f"f1_{dom}"] == pytest.approx(want["f1"])
        assert "auc_source" in entry and "pauc" in entry
    # the evaluators' means: over every (section, domain) row (tests/test_evaluator_decisions.py)
    f1s = [m["ids"][k][f"f1_{d}"] for k in ("fan/00", "fan/01") for d in ("source", "target")]
    assert m["types"]["fan"]["f1"] == pytest.approx(np.mean(f1s))
    assert m["average"]["f1"] == pytest.approx(np.mean(f1s))
    # 2021: one entry per (section, domain), on that domain's clips (its own evaluator)
    m21 = compute_metrics(df, "dcase2021")
    sec = df[(df.machine_id == "01") & (df.domain == "target")]
    assert m21["ids"]["fan/01/target"]["f1"] == pytest.approx(_by_hand(sec)["f1"])
    # without a decision column nothing is added
    assert "f1_source" not in compute_metrics(df.drop(columns="decision"),
                                              "dcase2022")["ids"]["fan/00"]


# --- settings -------------------------------------------------------------------------------


def test_decision_settings_are_recorded_and_hashed_only_when_changed():
    registry = get_registry()
    base = resolve({}, registry)
    assert (base["decision.rule"], base["decision.percentile"]) == ("gamma", 0.9)
    assert resolve({"decision.rule": "gamma", "decision.percentile": 0.9},
                   registry).run_id == base.run_id
    # a config written before decision.* existed hashes to the same id
    old = {k: v for k, v in base.items() if not k.startswith("decision.")}
    from asdbench.config import run_id
    assert run_id(old) == base.run_id
    changed = {resolve({"decision.rule": "quantile"}, registry).run_id,
               resolve({"decision.percentile": 0.95}, registry).run_id}
    assert len(changed) == 2 and base.run_id not in changed
    assert DecisionRule.from_config(resolve({"decision.percentile": 0.95}, registry)) == \
        DecisionRule("gamma", 0.95)
    assert DecisionRule.from_config(old) == DecisionRule()
    with pytest.raises(AsdbenchError, match="decision.rule must be one of gamma, quantile"):
        resolve({"decision.rule": "otsu"}, registry)
    with pytest.raises(AsdbenchError, match=r"decision.percentile must be in \(0, 1\)"):
        resolve({"decision.percentile": 90}, registry)
    with pytest.raises(AsdbenchError, match="unknown setting 'decision.rul'"):
        resolve({"decision.rul": "gamma"}, registry)


# --- one threshold per machine type (decision.per = "type") -----------------------------------


def _two_types_two_sections() -> pd.DataFrame:
    """Training scores of fan and pump, sections 00 and 01 each, of different scales."""
    rng = np.random.default_rng(3)
    parts = [("fan", "00", rng.gamma(2.0, 1.0, 40)), ("fan", "01", 3 + rng.gamma(2.0, 1.0, 25)),
             ("pump", "00", rng.gamma(4.0, 0.5, 30)), ("pump", "01", rng.gamma(1.5, 3.0, 35))]
    return pd.DataFrame({"machine_type": [t for t, _, s in parts for _ in s],
                         "machine_id": [i for _, i, s in parts for _ in s],
                         "score": np.concatenate([s for _, _, s in parts])})


def test_per_type_threshold_is_scipys_gamma_fit_of_the_pooled_scores():
    train = _two_types_two_sections()
    th = fit_thresholds(train, DecisionRule(per="type"))
    assert sorted(th) == ["fan/00", "fan/01", "pump/00", "pump/01"]
    for mtype in ("fan", "pump"):
        pooled = train.loc[train.machine_type == mtype, "score"].to_numpy()
        shape, loc, scale = scipy.stats.gamma.fit(pooled)
        want = scipy.stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
        for mid in ("00", "01"):
            entry = th[f"{mtype}/{mid}"]
            assert entry["threshold"] == pytest.approx(want, rel=1e-12)
            assert entry["fit"] == "gamma" and entry["n_train"] == len(pooled) == {
                "fan": 65, "pump": 65}[mtype]
            assert entry["pooled"] == [f"{mtype}/00", f"{mtype}/01"]
    # per class each section has its own fit, which differs from the pooled one
    per_class = fit_thresholds(train, DecisionRule())
    assert per_class == fit_thresholds(train, DecisionRule(per="class"))
    for key, entry in per_class.items():
        mtype, mid = key.split("/")
        own = train.loc[(train.machine_type == mtype) & (train.machine_id == mid), "score"]
        shape, loc, scale = scipy.stats.gamma.fit(own.to_numpy())
        assert entry["threshold"] == pytest.approx(
            scipy.stats.gamma.ppf(0.9, shape, loc=loc, scale=scale), rel=1e-12)
        assert entry["n_train"] == len(own) and "pooled" not in entry
        assert entry["threshold"] != pytest.approx(th[key]["threshold"], rel=1e-3)
    # the pooled threshold decides every section of its type
    t = th["fan/01"]["threshold"]
    test = pd.DataFrame({"machine_type": ["fan"] * 4, "machine_id": ["00", "00", "01", "01"],
                         "score": [t - 1e-9, t + 1e-9, t - 1e-9, t + 1e-9]})
    assert decide(test, th).tolist() == [0, 1, 0, 1]


def test_per_type_with_the_quantile_rule_pools_too():
    train = _two_types_two_sections()
    th = fit_thresholds(train, DecisionRule("quantile", 0.8, per="type"))
    pooled = train.loc[train.machine_type == "pump", "score"].to_numpy()
    assert th["pump/00"]["threshold"] == th["pump/01"]["threshold"] == pytest.approx(
        np.quantile(pooled, 0.8))
    assert th["pump/00"]["fit"] == "quantile"


def test_decision_per_setting_is_recorded_hashed_only_when_changed_and_checked():
    registry = get_registry()
    base = resolve({}, registry)
    assert base["decision.per"] == "class"
    assert resolve({"decision.per": "class"}, registry).run_id == base.run_id
    per_type = resolve({"decision.per": "type"}, registry)
    assert per_type.run_id != base.run_id
    assert DecisionRule.from_config(per_type) == DecisionRule("gamma", 0.9, "type")
    old = {k: v for k, v in base.items() if k != "decision.per"}  # written before it existed
    assert DecisionRule.from_config(old).per == "class"
    rule = DecisionRule.from_config(per_type)
    record = rule.record({"fan/00": {"threshold": 1.0}})
    assert (record["rule"], record["percentile"], record["per"]) == ("gamma", 0.9, "type")
    assert record["thresholds"] == {"fan/00": {"threshold": 1.0}}
    assert rule_label("gamma", rule) == "gamma q=0.9 per machine type"
    assert rule_label("gamma", DecisionRule()) == "gamma q=0.9"
    for bad in ("section", 1):
        with pytest.raises(AsdbenchError, match=r"^decision.per must be one of class, type; "
                                                r"got .*$"):
            resolve({"decision.per": bad}, registry)
    with pytest.raises(AsdbenchError, match="^decision.per must be one of class, type; "
                                            "got 'machine'$"):
        DecisionRule(per="machine")


def test_score_command_thresholds_pool_every_class_of_the_type_even_when_one_is_asked():
    # asdbench score fits on the run's training clips of the classes its files have: with
    # decision.per = "type" a fan/01 file's threshold is still fitted on fan/00 + fan/01
    train = _two_types_two_sections()
    classes = ["fan/00", "fan/01", "pump/00", "pump/01"]
    keys = (train.machine_type + "/" + train.machine_id).tolist()
    run = SimpleNamespace(classes=classes)
    inputs = SimpleNamespace(class_index=np.array([classes.index(k) for k in keys]))
    scores = train["score"].to_numpy()
    got = run_thresholds(run, scores, inputs, DecisionRule(per="type"), ["fan/01"])
    assert list(got) == ["fan/01"]
    assert got["fan/01"] == fit_thresholds(train, DecisionRule(per="type"))["fan/01"]
    own = run_thresholds(run, scores, inputs, DecisionRule(), ["fan/01"])
    assert own["fan/01"] == fit_thresholds(train, DecisionRule())["fan/01"]
    assert own["fan/01"]["n_train"] == 25 and got["fan/01"]["n_train"] == 65


def test_the_2021_and_2022_baseline_recipes_fit_one_threshold_per_type():
    registry = get_registry()

    def per(recipe: str, **more: str) -> str:
        cfg = resolve({"method": "dcase-ae", "backbone": "frames", "recipe": recipe, **more},
                      registry)
        return cfg["decision.per"]

    assert per("dcase2021") == per("dcase2022") == "type"
    assert per("dcase2023") == per("common") == "class"
    assert per("dcase2021", **{"decision.per": "class"}) == "class"  # the user's setting wins
