"""Precision, recall and F1 means of the DCASE 2021-2025 protocols against a direct
computation of the organisers' evaluator formula on a generated tree with both domains.

The formula, as read in nttcslab/dcase2023_task2_evaluator (dcase2023_task2_evaluator.py,
lines 259-286: per section and domain, ``confusion_matrix`` on ``y_domain == d``; lines
310-325 per type, 360-395 over all rows), Kota-Dohi/dcase2022_evaluator (lines 168-213, the
same) and y-kawagu/dcase2021_task2_evaluator (lines 114-151: one file per section and
domain). Two machine types with different section counts, so a mean over types and a mean
over all rows differ.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn import metrics

from asdbench.metrics import compute_metrics

EPS = sys.float_info.epsilon
SECTIONS = {"fan": ("00", "01", "02"), "valve": ("00",)}


def tree() -> pd.DataFrame:
    """A score table with decisions: per section and domain 6 normal and 4 anomalous clips,
    each domain's decisions of its own quality."""
    rng = np.random.default_rng(3)
    rows = []
    for mtype, sections in SECTIONS.items():
        for sec in sections:
            for dom in ("source", "target"):
                for k in range(10):
                    label = int(k >= 6)
                    hit = rng.random() < (0.8 if dom == "source" else 0.45)
                    rows.append({"file": f"section_{sec}_{dom}_test_{k}.wav",
                                 "machine_type": mtype, "machine_id": sec, "domain": dom,
                                 "label": label, "score": float(rng.random() + label),
                                 "decision": label if hit else 1 - label})
    return pd.DataFrame(rows)


def evaluator_rows(df: pd.DataFrame) -> list[tuple[str, str, dict]]:
    """(type, domain, {precision, recall, f1}) per section and domain, as the evaluators."""
    out = []
    for (mtype, _sec), g in df.groupby(["machine_type", "machine_id"], sort=True):
        for dom in ("source", "target"):
            part = g[g["domain"] == dom]
            tn, fp, fn, tp = metrics.confusion_matrix(part["label"], part["decision"]).ravel()
            prec = tp / np.maximum(tp + fp, EPS)
            rec = tp / np.maximum(tp + fn, EPS)
            f1 = 2.0 * prec * rec / np.maximum(prec + rec, EPS)
            out.append((mtype, dom, {"precision": prec, "recall": rec, "f1": f1}))
    return out


def hmean(values) -> float:
    return float(scipy.stats.hmean(np.maximum(np.asarray(values, dtype=float), EPS)))


@pytest.mark.parametrize("protocol", ["dcase2021", "dcase2022"])
def test_precision_recall_f1_means_are_the_evaluators(protocol):
    df = tree()
    got = compute_metrics(df, protocol)
    rows = evaluator_rows(df)
    for n in ("precision", "recall", "f1"):
        every = [r[n] for _, _, r in rows]
        # "arithmetic mean / harmonic mean over all machine types, sections, and domains"
        assert got["average"][n] == pytest.approx(np.mean(every), abs=1e-12)
        assert got["average"][f"hmean_{n}"] == pytest.approx(hmean(every), abs=1e-12)
        for dom in ("source", "target"):
            mine = [r[n] for _, d, r in rows if d == dom]
            assert got["average"][f"hmean_{n}_{dom}"] == pytest.approx(hmean(mine), abs=1e-12)
        for mtype in SECTIONS:  # each type's "arithmetic mean" / "harmonic mean" rows
            own = [r[n] for t, _, r in rows if t == mtype]
            assert got["types"][mtype][n] == pytest.approx(np.mean(own), abs=1e-12)
            assert got["types"][mtype][f"hmean_{n}"] == pytest.approx(hmean(own), abs=1e-12)
    # the mean over all rows is not the mean of the types' means here
    type_means = np.mean([got["types"][t]["f1"] for t in SECTIONS])
    assert abs(type_means - got["average"]["f1"]) > 1e-3


def test_each_section_holds_its_domains_values():
    df = tree()
    got = compute_metrics(df, "dcase2022")
    rows = {(t, d): r for t, d, r in evaluator_rows(df[df.machine_id == "01"])}
    entry = got["ids"]["fan/01"]
    for dom in ("source", "target"):
        assert entry[f"f1_{dom}"] == pytest.approx(rows[("fan", dom)]["f1"], abs=1e-12)
    m21 = compute_metrics(df, "dcase2021")["ids"]["fan/01/target"]
    assert m21["f1"] == pytest.approx(rows[("fan", "target")]["f1"], abs=1e-12)
