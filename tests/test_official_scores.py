"""The DCASE 2021-2025 official scores as the organisers' evaluators print them, and the
paper-table configs that reproduce the paper's DCASE 2020 setting (41 classes, dev test).

Each test builds a score table with known values, computes the evaluator's table by hand
(the evaluators' layout: per-section AUC/pAUC columns, ``scipy.stats.hmean`` per column after
flooring at ``sys.float_info.epsilon``; pAUC repeated once per domain in the 2022+ tables) and
compares it with the ``dcase2021`` / ``dcase2022`` protocols. Sources: the 2021 evaluator
(y-kawagu/dcase2021_task2_evaluator), the 2022 one (Kota-Dohi/dcase2022_evaluator), the 2023
and 2024 ones (nttcslab/dcase2023_task2_evaluator, nttcslab/dcase2024_task2_evaluator).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from asdbench_datasets.dcase2020 import eval_labels
from scipy.stats import hmean
from sklearn.metrics import roc_auc_score

from asdbench.config import resolve, run_id
from asdbench.data import TEST, TRAIN
from asdbench.matrix.grid import expand, load_matrix
from asdbench.metrics import compute_metrics, default_protocols
from asdbench.metrics.sets import metrics_by_set
from asdbench.plugins import get_registry

EPS = sys.float_info.epsilon


def floored_hmean(values) -> float:
    return float(hmean(np.maximum(np.asarray(values, dtype=float), EPS)))


def table(rows: list[tuple]) -> pd.DataFrame:
    """rows: (machine_type, section, domain, label, score)."""
    df = pd.DataFrame(rows, columns=["machine_type", "machine_id", "domain", "label", "score"])
    df.insert(0, "file", [f"clip_{i:04d}.wav" for i in range(len(df))])
    return df


def random_table(types, sections, seed: int, separation: dict[str, float]) -> pd.DataFrame:
    """12 normal + 6 anomalous clips per (type, section, domain); ``separation[domain]``
    shifts the anomalies, and each type/section gets its own offset so the values differ."""
    rng = np.random.default_rng(seed)
    rows = []
    for ti, mtype in enumerate(types):
        for si, sec in enumerate(sections):
            for dom in ("source", "target"):
                shift = separation[dom] * (1 + 0.3 * ti - 0.2 * si)
                rows += [(mtype, sec, dom, 0, float(v)) for v in rng.normal(0, 1, 12)]
                rows += [(mtype, sec, dom, 1, float(v)) for v in rng.normal(shift, 1, 6)]
    return table(rows)


# --- a table small enough to do on paper ------------------------------------------------------


def test_dcase2022_columns_on_a_table_done_by_hand():
    """One type, two sections; every AUC is a count of (anomaly, normal) pairs.

    section 00: source normals .1 .2, target normals .5 .7, anomalies .6 (source) .9 (target)
      AUC(source) = source normals vs all anomalies = 4/4 = 1
      AUC(target) = target normals vs all anomalies: .6 beats .5 only, .9 beats both = 3/4
    section 01: source normals .3 .8, target normals .2 .4, anomalies .5 (source) .6 (target)
      AUC(source): .5 beats .3, .6 beats .3 = 2/4 = 1/2;  AUC(target) = 4/4 = 1
    pAUC (max_fpr 0.1 on 6 clips, one normal = 25 % FPR: the McClish-standardised value of
    the first ROC step): taken from sklearn, the evaluators' own call.
    """
    df = table([("fan", "00", "source", 0, .1), ("fan", "00", "source", 0, .2),
                ("fan", "00", "target", 0, .5), ("fan", "00", "target", 0, .7),
                ("fan", "00", "source", 1, .6), ("fan", "00", "target", 1, .9),
                ("fan", "01", "source", 0, .3), ("fan", "01", "source", 0, .8),
                ("fan", "01", "target", 0, .2), ("fan", "01", "target", 0, .4),
                ("fan", "01", "source", 1, .5), ("fan", "01", "target", 1, .6)])
    m = compute_metrics(df, "dcase2022")
    auc_s, auc_t = [1.0, 0.5], [0.75, 1.0]
    pauc = [float(roc_auc_score(g["label"], g["score"], max_fpr=0.1))
            for _, g in df.groupby("machine_id")]
    for k, sec in enumerate(("00", "01")):
        e = m["ids"][f"fan/{sec}"]
        assert (e["auc_source"], e["auc_target"]) == (auc_s[k], auc_t[k])
        assert e["pauc"] == pytest.approx(pauc[k])
    t = m["types"]["fan"]
    # "harmonic mean" row: AUC column = hmean(1, 1/2, 3/4, 1) = 4 / (1 + 2 + 4/3 + 1) = 3/4
    assert t["hmean_auc"] == pytest.approx(0.75)
    assert t["hmean_auc_source"] == pytest.approx(2 / 3)  # hmean(1, 1/2)
    assert t["hmean_auc_target"] == pytest.approx(6 / 7)  # hmean(3/4, 1)
    assert t["hmean_pauc"] == pytest.approx(floored_hmean(pauc))
    assert t["auc"] == pytest.approx(0.8125) and t["auc_source"] == pytest.approx(0.75)
    assert "hmean" not in t  # the pooled per-type value no evaluator prints
    official = 6 / (1 + 2 + 4 / 3 + 1 + sum(1 / p for p in pauc))  # 4 AUCs, 2 pAUCs
    assert m["average"]["official"] == pytest.approx(official)


# --- the evaluators' tables -------------------------------------------------------------------


def evaluator_2022_rows(df: pd.DataFrame) -> dict[str, dict[str, list[float]]]:
    """Per type, the section rows of the 2022-2024 evaluators: AUC (source), AUC (target),
    pAUC (all clips of the section)."""
    out: dict[str, dict[str, list[float]]] = {}
    for (mtype, _), g in df.groupby(["machine_type", "machine_id"], sort=True):
        y, s, d = g["label"].to_numpy(), g["score"].to_numpy(), g["domain"].to_numpy()
        rows = out.setdefault(mtype, {"source": [], "target": [], "pauc": []})
        for dom in ("source", "target"):
            keep = (d == dom) | (y != 0)
            rows[dom].append(float(roc_auc_score(y[keep], s[keep])))
        rows["pauc"].append(float(roc_auc_score(y, s, max_fpr=0.1)))
    return out


@pytest.mark.parametrize("types, sections", [
    (("fan", "gearbox", "valve"), ("00", "01", "02")),  # 2022: three sections per type
    (("bandsaw", "grinder", "ToyTank"), ("00",)),        # 2023-2025: one section per type
])
def test_dcase2022_equals_the_2022_to_2024_evaluators(types, sections):
    df = random_table(types, sections, seed=3, separation={"source": 1.8, "target": 0.6})
    m = compute_metrics(df, "dcase2022")
    rows = evaluator_2022_rows(df)
    for mtype, r in rows.items():
        # the per-type table: AUC column = source AUCs then target AUCs, pAUC column = the
        # section pAUCs once per domain
        perf_auc = r["source"] + r["target"]
        perf_pauc = r["pauc"] + r["pauc"]
        t = m["types"][mtype]
        assert t["auc"] == pytest.approx(np.mean(perf_auc))             # arithmetic mean row
        assert t["pauc"] == pytest.approx(np.mean(perf_pauc))
        assert t["hmean_auc"] == pytest.approx(floored_hmean(perf_auc))  # harmonic mean row
        assert t["hmean_pauc"] == pytest.approx(floored_hmean(perf_pauc))
        assert t["hmean_auc_source"] == pytest.approx(floored_hmean(r["source"]))
        assert t["hmean_auc_target"] == pytest.approx(floored_hmean(r["target"]))
        assert t["auc_source"] == pytest.approx(np.mean(r["source"]))    # "<type> AUC (source)"
        assert t["auc_target"] == pytest.approx(np.mean(r["target"]))
        assert t["hmean_auc"] != pytest.approx(floored_hmean(perf_auc + r["pauc"]))
    src = [v for r in rows.values() for v in r["source"]]
    tgt = [v for r in rows.values() for v in r["target"]]
    pauc = [v for r in rows.values() for v in r["pauc"]]
    a = m["average"]
    assert a["amean_auc"] == pytest.approx(np.mean(src + tgt))
    assert a["amean_pauc"] == pytest.approx(np.mean(pauc))
    assert a["hmean_auc"] == pytest.approx(floored_hmean(src + tgt))
    assert a["hmean_pauc"] == pytest.approx(floored_hmean(pauc + pauc))
    assert a["hmean_auc_source"] == pytest.approx(floored_hmean(src))
    assert a["hmean_auc_target"] == pytest.approx(floored_hmean(tgt))
    assert a["official"] == pytest.approx(floored_hmean(src + tgt + pauc))  # "official score"


def test_dcase2021_equals_the_2021_evaluator():
    """The 2021 evaluator scores each (section, domain) file alone and prints, per type and
    over everything, the arithmetic and harmonic mean of each column."""
    df = random_table(("fan", "pump"), ("00", "01", "02"), seed=5,
                      separation={"source": 2.0, "target": 0.7})
    m = compute_metrics(df, "dcase2021")
    per_type: dict[str, list[tuple[float, float]]] = {}
    for (mtype, _, _), g in df.groupby(["machine_type", "machine_id", "domain"], sort=True):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        per_type.setdefault(mtype, []).append((float(roc_auc_score(y, s)),
                                               float(roc_auc_score(y, s, max_fpr=0.1))))
    for mtype, perf in per_type.items():
        auc, pauc = np.array(perf).T
        t = m["types"][mtype]
        assert (t["auc"], t["pauc"]) == pytest.approx((auc.mean(), pauc.mean()))
        assert t["hmean_auc"] == pytest.approx(floored_hmean(auc))
        assert t["hmean_pauc"] == pytest.approx(floored_hmean(pauc))
        assert "hmean" not in t
    auc, pauc = np.array([p for perf in per_type.values() for p in perf]).T
    a = m["average"]
    assert (a["amean_auc"], a["amean_pauc"]) == pytest.approx((auc.mean(), pauc.mean()))
    assert a["hmean_auc"] == pytest.approx(floored_hmean(auc))
    assert a["hmean_pauc"] == pytest.approx(floored_hmean(pauc))
    # the 2021 ranking score: every AUC and pAUC in one harmonic mean
    assert a["official"] == pytest.approx(floored_hmean(np.concatenate([auc, pauc])))


def test_the_floor_keeps_a_zero_column_defined():
    df = table([("pump", "00", "source", 0, 0.0), ("pump", "00", "source", 1, 1.0),
                ("pump", "00", "target", 0, 2.0), ("pump", "00", "target", 1, 1.5)])
    t = compute_metrics(df, "dcase2022")["types"]["pump"]
    assert t["hmean_auc_target"] == pytest.approx(EPS)  # AUC(target) = 0, floored
    assert t["hmean_auc"] == pytest.approx(2 / (1 + 1 / EPS))


# --- evaluation sections by default -----------------------------------------------------------


def test_official_score_is_the_evaluation_sections_one():
    """2021/2022 layout: sections 00-02 development, 03-05 evaluation, the evaluation ones
    easier here. Each set is scored alone; the eval set's official score is the harmonic mean
    of the evaluation sections only, not of all six."""
    dev = random_table(("fan",), ("00", "01", "02"), seed=7, separation={"source": 0.8,
                                                                         "target": 0.4})
    ev = random_table(("fan",), ("03", "04", "05"), seed=8, separation={"source": 2.5,
                                                                        "target": 1.5})
    frame = pd.concat([dev.assign(set="dev"), ev.assign(set="eval")], ignore_index=True)
    frame["file"] = [f"clip_{i:04d}.wav" for i in range(len(frame))]
    for protocol in ("dcase2021", "dcase2022"):
        sets = metrics_by_set(frame, [protocol], registry=default_protocols())
        got = {k: v["protocols"][protocol]["average"]["official"] for k, v in sets.items()}
        alone = {k: compute_metrics(part, protocol)["average"]["official"]
                 for k, part in (("dev", dev), ("eval", ev))}
        mixed = compute_metrics(frame.drop(columns=["set"]), protocol)["average"]["official"]
        assert got == pytest.approx(alone)
        assert sorted(sets["eval"]["protocols"][protocol]["ids"])[0].startswith("fan/03")
        assert got["eval"] > mixed > got["dev"]  # mixing the sets would change the number


# --- the paper-table configs ------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER_TABLES = ("paper-table2", "paper-table3", "paper-table4", "paper-table6")
# STgram-MFN's own log-Mel (torchaudio defaults, n_fft = win = 1024) and its optimiser
STGRAM_MFN = {"frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
              "frontend.pad_mode": "reflect", "frontend.norm": "none",
              "frontend.mel_scale": "htk", "train.batch_size": 128, "train.weight_decay": 0.0}
# DCASE 2020 machine IDs: development and additional training (= evaluation) IDs per type
DEV_IDS = {"fan": "00 02 04 06", "pump": "00 02 04 06", "slider": "00 02 04 06",
           "valve": "00 02 04 06", "ToyCar": "01 02 03 04", "ToyConveyor": "01 02 03"}


def paper_cells(name: str) -> list:
    registry = get_registry()
    return [resolve(c, registry) for c in expand(load_matrix(CONFIGS / f"{name}.toml"))]


@pytest.mark.parametrize("name", PAPER_TABLES)
def test_paper_configs_resolve_to_the_papers_setting(name):
    cells = paper_cells(name)
    assert len({run_id(c) for c in cells}) == len(cells)  # every cell is its own run
    for c in cells:
        # 41 classes: the additional training data (eval_data) beside the development set
        # folders enter a run's identity absolute (against the working directory)
        assert c["dataset"] == "dcase2020"
        assert c["data.eval_root"] == os.path.abspath("dcase2020/eval_data")
        assert c["data.root"] == os.path.abspath("dcase2020/dev_data")
        if c["method"] not in ("os-scl", "arcface", "noisy-arcmix"):
            # the other Table II rows on their authors' recipes; beyond the paper, the AdaCos
            # family on the common one (AdaCos has no authors' ASD recipe)
            adacos = c["method"] in ("adacos", "subcluster-adacos", "adaproj")
            assert c["recipe"] == ("common" if adacos else "authors"), c["method"]
            continue
        # the authors' recipe wherever the row is the authors' system
        own_ablation = (name, c["method"], c["frontend"]) == ("paper-table3", "arcface",
                                                              "tfstgram")
        assert c["recipe"] == ("common" if own_ablation else "authors")
        # every row of the paper's tables in fp32, as its authors trained (Noisy-ArcMix:
        # fp16 autocast), each row's epochs its recipe's
        assert c["train.amp"] == ("fp16" if c["method"] == "noisy-arcmix" else "fp32")
        assert c["train.epochs"] == (301 if c["method"] == "arcface" and not own_ablation
                                     else 300)
        if (c["method"], c["frontend"]) == ("arcface", "stgram"):
            assert {k: c[k] for k in STGRAM_MFN} == STGRAM_MFN
        else:  # every other row keeps the OS-SCL paper's log-Mel
            assert (c["frontend.mel_scale"], c["frontend.norm"]) == ("slaney", "slaney")
    rows = {(c["method"], c["frontend"]) for c in cells}
    if name in ("paper-table2", "paper-table3", "paper-table4"):
        assert ("arcface", "stgram") in rows


def test_table4_runs_are_table2_runs():
    t2 = {run_id(c) for c in paper_cells("paper-table2")}
    t4 = {run_id(c) for c in paper_cells("paper-table4")}
    assert t4 < t2 and len(t4) == 15


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(160, dtype=np.float32), 16000, subtype="PCM_16")


def test_a_paper_cell_trains_on_41_classes_never_on_evaluation_test_clips(tmp_path):
    """A DCASE 2020 tree (one clip per file kind and ID) read with a paper cell's options:
    the training clips cover the 23 development and 18 additional-training IDs."""
    dev, ev = tmp_path / "dev_data", tmp_path / "eval_data"
    listed = eval_labels()
    for mtype, ids in DEV_IDS.items():
        for mid in ids.split():
            _wav(dev / mtype / "train" / f"normal_id_{mid}_00000000.wav")
            _wav(dev / mtype / "test" / f"normal_id_{mid}_00000000.wav")
            _wav(dev / mtype / "test" / f"anomaly_id_{mid}_00000000.wav")
        for mid in sorted({n.split("_")[1] for n in listed[mtype]}):
            _wav(ev / mtype / "train" / f"normal_id_{mid}_00000000.wav")
            first = min(n for n in listed[mtype] if n.startswith(f"id_{mid}_"))
            _wav(ev / mtype / "test" / first)
    cell = next(c for c in paper_cells("paper-table2") if c["method"] == "os-scl")
    options = {**cell.options("dataset"), "root": str(dev), "eval_root": str(ev)}
    clips = get_registry().create("dataset", "dcase2020", options).clips()
    train = [c for c in clips if c.split == TRAIN]
    assert len({(c.machine_type, c.machine_id) for c in train}) == 41
    assert all(ev / c.machine_type / "test" not in c.path.parents for c in train)
    test_sets = {dict(c.attributes)["set"] for c in clips if c.split == TEST}
    assert test_sets == {"dev", "eval"}  # the evaluation test clips: their own set, scored
