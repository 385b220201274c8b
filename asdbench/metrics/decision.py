"""Decisions (0 normal / 1 anomaly) from anomaly scores: thresholds and their metrics.

The official DCASE baselines of 2021-2025 decide with a threshold fitted on the anomaly
scores of the *training* clips (the 2020 baseline writes no decisions; the 2021 and 2022 ones
fit one per machine type over all its sections, see ``decision.per`` below): a gamma
distribution is fitted (``scipy.stats.gamma.fit`` with its default free shape, location and
scale) and the threshold is its 90th percentile (``scipy.stats.gamma.ppf(q=0.9, ...)``); a
clip whose score is above the threshold is an anomaly. Source: the organisers' baseline,
nttcslab/dcase2023_task2_baseline_ae, ``networks/base_model.py``
(``fit_anomaly_score_distribution``, ``calc_decision_threshold``; ``decision_threshold: 0.9``
in its ``baseline.yaml``), which the 2021-2025 baselines share.

Precision, recall and F1 are computed as the 2021 and 2023 evaluators do
(y-kawagu/dcase2021_task2_evaluator, nttcslab/dcase2023_task2_evaluator): from the confusion
matrix, each denominator floored at ``sys.float_info.epsilon``.

Rules (``decision.rule``): ``gamma`` (the baselines'), ``quantile`` (the empirical
``decision.percentile`` quantile of the training scores, no distribution assumed).
Where (``decision.per``): ``class`` (the default) fits one threshold per machine type and
ID/section on that class's training scores; ``type`` one per machine type on the pooled
training scores of all its classes, applied to each of them, as the 2021 and 2022 baselines
do (y-kawagu/dcase2021_task2_baseline_ae and Kota-Dohi/dcase2022_task2_baseline_ae,
``00_train.py``: one ``scipy.stats.gamma.fit`` of the per-file MSE of every training file of
the type, ``section_name="*"``, saved as ``score_distr_<type>.pkl``).

:func:`far_rule` is the quantile rule at a false-alarm rate a user chooses (``asdbench score
--target-far``) on the training clips; :func:`heldout_threshold` the threshold at that rate on
held-out normal clips (``asdbench score --target-far F --normal-clips DIR``).

The training scores a threshold is fitted on are each clip's score as if it were held out
(:func:`training_scores`): a scorer whose reference holds every training clip (k-NN) would
otherwise find each clip at distance 0 from itself, fit too low a threshold and flag too much.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from asdbench.registry import AsdbenchError

RULES = ("gamma", "quantile")
PER = ("class", "type")  # one threshold per (type, ID/section), or per machine type
DEFAULT_RULE, DEFAULT_PERCENTILE, DEFAULT_PER = "gamma", 0.9, "class"
EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class DecisionRule:
    """How a machine's threshold is taken from its training clips' scores."""

    rule: str = DEFAULT_RULE
    percentile: float = DEFAULT_PERCENTILE
    per: str = DEFAULT_PER

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise AsdbenchError(f"decision.rule must be one of {', '.join(RULES)}; "
                                f"got {self.rule!r}")
        if not 0 < self.percentile < 1:
            raise AsdbenchError(f"decision.percentile must be in (0, 1); got {self.percentile!r}")
        if self.per not in PER:
            raise AsdbenchError(f"decision.per must be one of {', '.join(PER)}; got {self.per!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DecisionRule:
        """The rule of a run config; a config written before ``decision.*`` existed gets the
        defaults (which is what such a run is identified with)."""
        return cls(str(cfg.get("decision.rule", DEFAULT_RULE)),
                   float(cfg.get("decision.percentile", DEFAULT_PERCENTILE)),
                   str(cfg.get("decision.per", DEFAULT_PER)))

    def record(self, thresholds: Mapping[str, Any]) -> dict[str, Any]:
        """The ``decision`` part of ``metrics.json``: this rule and the ``thresholds`` it
        fitted (:func:`fit_thresholds`)."""
        return {"rule": self.rule, "percentile": self.percentile, "per": self.per,
                "fitted_on": "training clips' scores", "thresholds": dict(thresholds)}


def far_rule(target_far: float) -> DecisionRule:
    """The threshold rule of false-alarm rate ``target_far`` on normal training clips: the
    empirical ``1 - target_far`` quantile of their scores."""
    if not isinstance(target_far, int | float) or not 0 < target_far < 1:
        raise AsdbenchError(f"the target false-alarm rate (--target-far) must be in (0, 1), "
                            f"e.g. 0.05; got {target_far!r}")
    return DecisionRule("quantile", 1.0 - float(target_far))


def rule_label(how: str, rule: DecisionRule, target_far: float | None = None,
               n_clips: int | None = None, held_out: bool = False) -> str:
    """What a threshold says it is: ``gamma q=0.9``, ``quantile q=0.9 (gamma fit impossible)``,
    ``gamma q=0.9 per machine type`` (``decision.per = "type"``), or at a target false-alarm
    rate on ``n_clips`` training clips, ``quantile q=0.95 of 8 training clips (target
    false-alarm rate 0.05; false-alarm rate on new clips will be higher)``; ``held_out``: the
    scorer scored the training clips as if held out (k-NN leave one out), so no such warning.
    ``how`` as :func:`fit_threshold` returns it."""
    name, _, note = how.partition(" ")
    notes = [note] if note else []
    if rule.per == "type":
        notes.append("per machine type")
    if target_far is None:
        return " ".join([name, f"q={rule.percentile:g}", *notes])
    clips = "training clips" + (", each scored held out" if held_out else "")
    caveat = "" if held_out else "; false-alarm rate on new clips will be higher"
    return " ".join([name, f"q={rule.percentile:g}", *notes,
                     f"of {n_clips} {clips} (target false-alarm rate {target_far:g}{caveat})"])


def heldout_threshold(scores: np.ndarray, target_far: float) -> tuple[float, str]:
    """``(threshold, rule text)`` at false-alarm rate ``target_far`` F on the scores of one
    class's held-out normal clips.

    The threshold is ``np.quantile(scores, 1 - F, method="inverted_cdf")``, the smallest score
    with at most a fraction F of the clips above it (decisions are ``score > threshold``), so
    the false-alarm rate on these clips is at most F. Numpy's default linear interpolation
    does not promise that: between two clips' scores it can fall below the upper one (10
    clips, F = 0.15: 2 of 10 above). With fewer than 1/F clips (n F < 1) no score but the
    largest has at most n F clips above it: the threshold is the largest score, the rate on
    these clips 0, and the rule text says F cannot be resolved with n clips.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise AsdbenchError("a threshold at a false-alarm rate needs at least one clip's score")
    n, q = s.size, 1.0 - float(target_far)
    threshold = float(np.quantile(s, q, method="inverted_cdf"))
    what = f"{n} held-out normal clips"
    if n * target_far < 1 - 1e-9:  # the tolerance: 1/F clips in float, e.g. 0.1 * 10
        return threshold, (f"largest score of {what} (target false-alarm rate {target_far:g} "
                           f"is below 1/{n}: cannot be resolved with {n} clips)")
    return threshold, f"quantile q={q:g} of {what} (target false-alarm rate {target_far:g})"


def heldout_thresholds(normal: pd.DataFrame, target_far: float,
                       keys: list[str]) -> dict[str, dict[str, Any]]:
    """The threshold of each class in ``keys`` (``type/id``) at ``target_far`` on its
    held-out normal clips ``normal`` (columns ``class, score``):
    ``{"threshold", "rule", "n_clips"}``; a class without any is a one-line error."""
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        own = normal.loc[normal["class"] == key, "score"].to_numpy(dtype=np.float64)
        if own.size == 0:
            mtype, _, mid = key.partition("/")
            raise AsdbenchError(
                f"no held-out normal clip of class {key} among --normal-clips, which input "
                f"files have: add normal recordings of {mtype} id {mid} (named 'id_{mid}', "
                f"in a '{mtype}' folder) or score that class's files apart")
        threshold, rule = heldout_threshold(own, target_far)
        out[key] = {"threshold": threshold, "rule": rule, "n_clips": int(own.size)}
    return out


def false_alarm_rate(scores: np.ndarray, threshold: float) -> float:
    """The fraction of normal clips' ``scores`` a ``threshold`` alarms on (score above it)."""
    s = np.asarray(scores, dtype=np.float64)
    return float(np.mean(s > threshold)) if s.size else float("nan")


def training_scores(scorer: Any, train: Any) -> np.ndarray:
    """The scores of the training clips ``scorer`` was fitted on, for a threshold: the
    scorer's ``score_train(train)`` (each clip scored as if held out, e.g. leave-one-out
    k-NN) when it has one, else ``score(train)``."""
    held_out = getattr(scorer, "score_train", None)
    scores = held_out(train) if callable(held_out) else scorer.score(train)
    return np.asarray(scores, dtype=np.float64)


def gamma_threshold(scores: np.ndarray, percentile: float = DEFAULT_PERCENTILE) -> float:
    """The ``percentile`` point of a gamma distribution fitted to ``scores`` (as the
    baselines: free shape, location and scale)."""
    with warnings.catch_warnings():  # scipy warns on hard fits; a bad fit is checked below
        warnings.simplefilter("ignore")
        shape, loc, scale = scipy.stats.gamma.fit(scores)
        return float(scipy.stats.gamma.ppf(q=percentile, a=shape, loc=loc, scale=scale))


def fit_threshold(scores: np.ndarray, rule: DecisionRule) -> tuple[float, str]:
    """``(threshold, how)`` of one machine's training scores; ``how`` is the rule used.

    A gamma fit needs scores that vary: for fewer than 3 distinct values, or a fit that gives
    no finite threshold, the empirical quantile is used and ``how`` says so.
    """
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        raise AsdbenchError("a decision threshold needs at least one training score")
    if rule.rule == "gamma":
        if np.unique(s).size >= 3:
            try:
                t = gamma_threshold(s, rule.percentile)
            except (ValueError, RuntimeError, FloatingPointError):
                t = float("nan")
            if np.isfinite(t):
                return t, "gamma"
        return float(np.quantile(s, rule.percentile)), "quantile (gamma fit impossible)"
    return float(np.quantile(s, rule.percentile)), "quantile"


def machine_key(machine_type: Any, machine_id: Any) -> str:
    return f"{machine_type}/{machine_id}"


def fit_thresholds(train: pd.DataFrame, rule: DecisionRule) -> dict[str, dict[str, Any]]:
    """The threshold of each (type, ID/section) from a table of training-clip scores
    (columns ``machine_type, machine_id, score``), keyed ``type/id``:
    ``{"threshold", "fit", "n_train"}`` (``n_train``: the clips the threshold was fitted on).

    ``rule.per == "class"``: each class's own fit on its clips; ``"type"``: one fit on the
    pooled clips of every class of the type, the same entry for each of them, plus
    ``"pooled"`` (the classes it was fitted on)."""
    out: dict[str, dict[str, Any]] = {}
    types, ids = train["machine_type"].astype(str), train["machine_id"].astype(str)
    if rule.per == "type":
        for mtype, g in train.groupby(types, sort=True):
            threshold, how = fit_threshold(g["score"].to_numpy(), rule)
            keys = [machine_key(mtype, mid) for mid in sorted(set(ids[g.index]))]
            for key in keys:
                out[key] = {"threshold": threshold, "fit": how, "n_train": int(len(g)),
                            "pooled": list(keys)}
        return out
    for (mtype, mid), g in train.groupby([types, ids], sort=True):
        threshold, how = fit_threshold(g["score"].to_numpy(), rule)
        out[machine_key(mtype, mid)] = {"threshold": threshold, "fit": how,
                                        "n_train": int(len(g))}
    return out


def decide(scores: pd.DataFrame, thresholds: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """0/1 per row of a score table: 1 when its score is above its machine's threshold."""
    keys = [machine_key(t, i) for t, i in zip(scores["machine_type"], scores["machine_id"],
                                                 strict=True)]
    missing = sorted({k for k in keys if k not in thresholds})
    if missing:
        raise AsdbenchError(f"no decision threshold for {missing[0]} (no training clips)")
    limit = np.array([thresholds[k]["threshold"] for k in keys], dtype=float)
    return (scores["score"].to_numpy(dtype=float) > limit).astype(int)


def precision_recall_f1(labels: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of 0/1 decisions, as the official evaluators compute them."""
    y = np.asarray(labels, dtype=int)
    d = np.asarray(decisions, dtype=int)
    tp = float(np.sum((d == 1) & (y == 1)))
    fp = float(np.sum((d == 1) & (y == 0)))
    fn = float(np.sum((d == 0) & (y == 1)))
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    f1 = 2.0 * precision * recall / max(precision + recall, EPS)
    return {"precision": precision, "recall": recall, "f1": f1}


def _entry_rows(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """The rows of ``df`` a protocol's ``ids`` key (``type/id`` or ``type/id/domain``) names
    (none for a key of another form)."""
    parts = key.split("/")
    if len(parts) < 2:
        return df.iloc[:0]
    mask = (df["machine_type"] == parts[0]) & (df["machine_id"] == parts[1])
    if len(parts) > 2:
        mask &= df["domain"] == parts[2]
    return df.loc[mask]


def add_decision_metrics(result: dict[str, Any], df: pd.DataFrame) -> dict[str, Any]:
    """Precision, recall and F1 next to AUC/pAUC in a protocol's result, from the ``decision``
    column of its labelled clips ``df``.

    Each ``ids`` entry gets them over its clips and, when the clips have domains and the
    entry is not one domain's, per domain (``precision_source`` ...: that domain's clips, as
    the 2023+ evaluators); each type and ``average`` get the arithmetic means. A protocol
    whose result already has ``average.f1`` (its evaluator's own means) is left as it is.
    """
    if "f1" in result["average"]:  # the protocol computed them itself, as its evaluator
        return result
    domains = sorted(d for d in df["domain"].unique() if d)
    for key, entry in result["ids"].items():
        rows = _entry_rows(df, key)
        if rows.empty:
            continue
        entry.update(precision_recall_f1(rows["label"].to_numpy(), rows["decision"].to_numpy()))
        if len(key.split("/")) > 2:
            continue
        for d in domains:
            part = rows.loc[rows["domain"] == d]
            if len(part):
                got = precision_recall_f1(part["label"].to_numpy(), part["decision"].to_numpy())
                entry.update({f"{k}_{d}": v for k, v in got.items()})
    names = ("precision", "recall", "f1")
    for mtype, entry in result["types"].items():
        own = [e for k, e in result["ids"].items()
               if k.split("/", 1)[0] == mtype and "f1" in e]
        entry.update({n: float(np.mean([e[n] for e in own])) for n in names if own})
    typed = list(result["types"].values())
    result["average"].update({n: float(np.mean([t[n] for t in typed])) for n in names
                              if typed and all(n in t for t in typed)})
    return result
