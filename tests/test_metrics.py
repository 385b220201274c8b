"""Metrics under every protocol against hand computations, and official submission files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from asdbench.metrics import (
    HMEAN_FLOOR,
    PROTOCOLS,
    compute_all,
    compute_metrics,
    harmonic_mean,
    roc_points,
    submission_name,
    write_submission,
)
from asdbench.registry import AsdbenchError


def _table(rows: list[tuple]) -> pd.DataFrame:
    """rows: (machine_type, machine_id, domain, label, score); file names generated."""
    df = pd.DataFrame(rows, columns=["machine_type", "machine_id", "domain", "label", "score"])
    df.insert(0, "file", [f"clip_{i:04d}.wav" for i in range(len(df))])
    return df


def _pairwise_auc(y, s) -> float:
    """AUC as the fraction of (anomaly, normal) pairs ranked right, ties count half."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _pauc(y, s) -> float:
    return float(roc_auc_score(y, s, max_fpr=0.1))


@pytest.fixture
def scores2020() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    # fan: ID 00 scores sit ~5 higher than ID 02, so pooling across IDs mixes the scales.
    for mid, offset, sep in (("00", 5.0, 1.0), ("02", 0.0, 2.0)):
        for label in (0, 1):
            for v in rng.normal(offset + sep * label, 1.0, 30):
                rows.append(("fan", mid, "", label, float(v)))
    for mid, sep in (("01", 0.5), ("03", 3.0)):
        for label in (0, 1):
            for v in rng.normal(sep * label, 1.0, 25):
                rows.append(("ToyCar", mid, "", label, float(v)))
    return _table(rows)


def test_protocols_are_documented():
    assert set(PROTOCOLS) == {"dcase2020", "pooled", "dcase2021", "dcase2022"}
    assert all(isinstance(v, str) and v for v in PROTOCOLS.values())


def test_auc_matches_pair_counting():
    df = _table([("fan", "00", "", 0, 0.1), ("fan", "00", "", 0, 0.4), ("fan", "00", "", 1, 0.35),
                 ("fan", "00", "", 1, 0.8), ("fan", "00", "", 0, 0.8)])
    m = compute_metrics(df, "dcase2020")
    # pairs (anomaly > normal): 0.35 beats 0.1 only; 0.8 beats 0.1, 0.4 and ties 0.8 -> 3.5 / 6
    assert m["ids"]["fan/00"]["auc"] == pytest.approx(3.5 / 6)
    assert m["ids"]["fan/00"]["n_normal"] == 3 and m["ids"]["fan/00"]["n_anomaly"] == 2


def test_dcase2020_means_over_ids(scores2020):
    m = compute_metrics(scores2020, "dcase2020")
    assert m["protocol"] == "dcase2020"
    per_type = {}
    for (mtype, mid), g in scores2020.groupby(["machine_type", "machine_id"]):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        auc, pauc = _pairwise_auc(y, s), _pauc(y, s)
        assert m["ids"][f"{mtype}/{mid}"]["auc"] == pytest.approx(auc)
        assert m["ids"][f"{mtype}/{mid}"]["pauc"] == pytest.approx(pauc)
        per_type.setdefault(mtype, []).append((auc, pauc))
    for mtype, vals in per_type.items():
        t = m["types"][mtype]
        assert t["auc"] == pytest.approx(np.mean([a for a, _ in vals]))
        assert t["pauc"] == pytest.approx(np.mean([p for _, p in vals]))
        assert t["mauc"] == pytest.approx(min(a for a, _ in vals))
    avg = m["average"]
    assert avg["auc"] == pytest.approx(np.mean([m["types"][t]["auc"] for t in per_type]))
    assert avg["pauc"] == pytest.approx(np.mean([m["types"][t]["pauc"] for t in per_type]))
    assert avg["mauc"] == pytest.approx(np.mean([m["types"][t]["mauc"] for t in per_type]))
    assert avg["official"] is None
    assert m["skipped"] == [] and m["n_clips"] == len(scores2020)


def test_pooled_pools_ids_and_differs_from_dcase2020(scores2020):
    pooled = compute_metrics(scores2020, "pooled")
    official = compute_metrics(scores2020, "dcase2020")
    for mtype, g in scores2020.groupby("machine_type"):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        assert pooled["types"][mtype]["auc"] == pytest.approx(_pairwise_auc(y, s))
        assert pooled["types"][mtype]["pauc"] == pytest.approx(_pauc(y, s))
        # mAUC is still the lowest per-ID AUC, identical under both protocols
        assert pooled["types"][mtype]["mauc"] == pytest.approx(official["types"][mtype]["mauc"])
    # fan's IDs live on different score scales: pooling changes the number
    assert abs(pooled["types"]["fan"]["auc"] - official["types"]["fan"]["auc"]) > 0.02
    assert pooled["average"]["auc"] == pytest.approx(
        np.mean([pooled["types"][t]["auc"] for t in ("fan", "ToyCar")]))
    assert pooled["ids"] == official["ids"]


def test_unlabelled_and_one_class_groups_are_left_out():
    df = _table([("fan", "00", "", 0, 0.1), ("fan", "00", "", 1, 0.9),
                 ("fan", "00", "", None, 5.0), ("fan", "00", "", float("nan"), -5.0),
                 ("fan", "02", "", 0, 0.3), ("fan", "02", "", 0, 0.2),
                 ("pump", "00", "", 1, 0.3)])
    m = compute_metrics(df, "dcase2020")
    assert m["n_unlabelled"] == 2 and m["n_clips"] == 5
    assert m["ids"]["fan/00"]["auc"] == 1.0
    assert set(m["ids"]) == {"fan/00"}
    assert "fan/02: no anomaly clips" in m["skipped"]
    assert "pump/00: no normal clips" in m["skipped"]
    assert set(m["types"]) == {"fan"}
    json.dumps(m, allow_nan=False)  # NaN-free
    empty = compute_metrics(df[df["machine_type"] == "pump"], "pooled")
    assert empty["types"] == {} and empty["average"]["auc"] is None
    json.dumps(empty, allow_nan=False)


def test_dcase2021_per_domain_and_harmonic_mean():
    rng = np.random.default_rng(1)
    rows = []
    for mtype in ("fan", "gearbox"):
        for sec in ("00", "01"):
            for dom, sep in (("source", 2.0), ("target", 0.7)):
                for label in (0, 1):
                    for v in rng.normal(sep * label, 1.0, 20):
                        rows.append((mtype, sec, dom, label, float(v)))
    df = _table(rows)
    m = compute_metrics(df, "dcase2021")
    values = []
    for (mtype, sec, dom), g in df.groupby(["machine_type", "machine_id", "domain"]):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        e = m["ids"][f"{mtype}/{sec}/{dom}"]
        assert e["auc"] == pytest.approx(_pairwise_auc(y, s))
        assert e["pauc"] == pytest.approx(_pauc(y, s))
        values += [e["auc"], e["pauc"]]
    assert len(m["ids"]) == 8
    assert m["average"]["official"] == pytest.approx(len(values) / sum(1 / v for v in values))
    fan = [m["ids"][k] for k in m["ids"] if k.startswith("fan/")]
    assert m["types"]["fan"]["auc"] == pytest.approx(np.mean([e["auc"] for e in fan]))
    assert m["types"]["fan"]["mauc"] == pytest.approx(min(e["auc"] for e in fan))


def _scores2022() -> pd.DataFrame:
    rows = []
    # section 00: source normals low, target normals mid; anomalies in both domains.
    for v in (0.0, 0.1, 0.2, 0.3):
        rows.append(("fan", "00", "source", 0, v))
    for v in (0.5, 0.6, 0.7):
        rows.append(("fan", "00", "target", 0, v))
    rows += [("fan", "00", "source", 1, 0.55), ("fan", "00", "target", 1, 0.25),
             ("fan", "00", "target", 1, 0.9)]
    # section 01: ordinary case
    for v in (0.0, 0.2, 0.4):
        rows.append(("fan", "01", "source", 0, v))
    rows += [("fan", "01", "target", 0, 0.3), ("fan", "01", "target", 0, 0.1),
             ("fan", "01", "source", 1, 0.35), ("fan", "01", "target", 1, 0.8)]
    return _table(rows)


def test_dcase2022_source_target_auc_use_all_anomalies():
    df = _scores2022()
    m = compute_metrics(df, "dcase2022")
    official = []
    for sec, g in df.groupby("machine_id"):
        y, s, d = g["label"].to_numpy(), g["score"].to_numpy(), g["domain"].to_numpy()
        e = m["ids"][f"fan/{sec}"]
        for dom in ("source", "target"):
            keep = (d == dom) | (y == 1)
            assert e[f"auc_{dom}"] == pytest.approx(_pairwise_auc(y[keep], s[keep]))
        assert e["pauc"] == pytest.approx(_pauc(y, s))
        assert e["auc"] == pytest.approx(_pairwise_auc(y, s))
        official += [e["auc_source"], e["auc_target"], e["pauc"]]
    e0 = m["ids"]["fan/00"]
    # by hand: source normals {0,.1,.2,.3} vs anomalies {.55,.25,.9}: .25 beats 3 of 4 -> 11/12
    assert e0["auc_source"] == pytest.approx(11 / 12)
    # target normals {.5,.6,.7} vs the same three anomalies: .55 beats 1, .9 beats 3 -> 4/9
    assert e0["auc_target"] == pytest.approx(4 / 9)
    # a domain-only AUC (source anomalies only) would differ: 1.0
    assert e0["auc_source"] != pytest.approx(1.0)
    assert e0["n_normal_source"] == 4 and e0["n_normal_target"] == 3 and e0["n_anomaly"] == 3
    assert m["average"]["official"] == pytest.approx(len(official) / sum(1 / v for v in official))
    t = m["types"]["fan"]
    assert t["auc_source"] == pytest.approx(np.mean([m["ids"][k]["auc_source"] for k in m["ids"]]))
    assert t["auc"] == pytest.approx(np.mean([m["ids"][k][f"auc_{d}"] for k in m["ids"]
                                              for d in ("source", "target")]))
    assert t["mauc"] == pytest.approx(min(m["ids"][k][f"auc_{d}"] for k in m["ids"]
                                          for d in ("source", "target")))


def test_dcase2022_harmonic_mean_floor():
    df = _table([("pump", "00", "source", 0, 0.0), ("pump", "00", "source", 1, 1.0),
                 ("pump", "00", "target", 0, 2.0), ("pump", "00", "target", 1, 1.5)])
    m = compute_metrics(df, "dcase2022")
    e = m["ids"]["pump/00"]
    assert e["auc_target"] == 0.0  # every target normal scores above every anomaly
    vals = [e["auc_source"], e["auc_target"], e["pauc"]]
    expected = 3 / sum(1 / max(v, HMEAN_FLOOR) for v in vals)
    assert m["average"]["official"] == pytest.approx(expected, rel=1e-9)
    assert 0 < m["average"]["official"] < 1e-14
    assert harmonic_mean([0.0, 1.0]) == pytest.approx(2 * HMEAN_FLOOR, rel=1e-6)
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3)


def test_domain_protocols_need_domains(scores2020):
    for protocol in ("dcase2021", "dcase2022"):
        with pytest.raises(AsdbenchError, match="domain"):
            compute_metrics(scores2020, protocol)


def test_bad_input_is_reported(scores2020):
    with pytest.raises(AsdbenchError, match="did you mean 'pooled'"):
        compute_metrics(scores2020, "pooledd")
    with pytest.raises(AsdbenchError, match="lacks column"):
        compute_metrics(scores2020.drop(columns=["score"]), "dcase2020")
    bad = scores2020.copy()
    bad.loc[0, "label"] = 2
    with pytest.raises(AsdbenchError, match="label"):
        compute_metrics(bad, "dcase2020")
    bad = scores2020.copy()
    bad.loc[3, "score"] = float("nan")
    with pytest.raises(AsdbenchError, match="non-finite"):
        compute_metrics(bad, "dcase2020")


def test_compute_all_and_roc_points(scores2020):
    both = compute_all(scores2020, ["dcase2020", "pooled"])
    assert list(both) == ["dcase2020", "pooled"]
    json.dumps(both, allow_nan=False)
    pts = roc_points(scores2020)
    assert set(pts) == {"fan", "ToyCar"}
    fan = pts["fan"]
    assert fan["fpr"][0] == 0 and fan["fpr"][-1] == 1 and fan["tpr"][-1] == 1
    assert np.trapezoid(fan["tpr"], fan["fpr"]) == pytest.approx(both["pooled"]["types"]["fan"]["auc"])
    assert set(roc_points(scores2020, group="id")) == {"fan/00", "fan/02", "ToyCar/01", "ToyCar/03"}


def test_submission_files_2020(tmp_path, scores2020):
    df = scores2020.copy()
    df.loc[df.index[:3], "label"] = None  # unlabelled evaluation clips are still written
    paths = write_submission(df, tmp_path / "sub")
    names = sorted(p.name for p in paths)
    assert names == ["anomaly_score_ToyCar_id_01.csv", "anomaly_score_ToyCar_id_03.csv",
                     "anomaly_score_fan_id_00.csv", "anomaly_score_fan_id_02.csv"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == names  # no temp files left
    text = (tmp_path / "sub" / "anomaly_score_fan_id_00.csv").read_text()
    lines = text.splitlines()
    g = df[(df["machine_type"] == "fan") & (df["machine_id"] == "00")].sort_values("file")
    assert len(lines) == len(g)
    assert "file_name" not in text  # no header
    for line, (_, row) in zip(lines, g.iterrows(), strict=True):
        name, value = line.split(",")
        assert name == row["file"] and float(value) == row["score"]  # exact round trip
    # rewriting replaces the files in place
    write_submission(df.assign(score=0.5), tmp_path / "sub")
    assert (tmp_path / "sub" / "anomaly_score_fan_id_00.csv").read_text().splitlines()[0].endswith(",0.5")


def test_submission_layouts(tmp_path):
    df = _scores2022()
    names = sorted(p.name for p in write_submission(df, tmp_path / "a"))  # auto -> section
    assert names == ["anomaly_score_fan_section_00_test.csv",
                     "anomaly_score_fan_section_01_test.csv"]
    names = sorted(p.name for p in write_submission(df, tmp_path / "b", layout="dcase2021"))
    assert names == ["anomaly_score_fan_section_00_source_test.csv",
                     "anomaly_score_fan_section_00_target_test.csv",
                     "anomaly_score_fan_section_01_source_test.csv",
                     "anomaly_score_fan_section_01_target_test.csv"]
    src = (tmp_path / "b" / "anomaly_score_fan_section_00_source_test.csv").read_text()
    assert len(src.splitlines()) == 5  # 4 source normals + 1 source anomaly
    assert submission_name("fan", "id_04") == "anomaly_score_fan_id_04.csv"
    assert submission_name("fan", "section_02", layout="section") == \
        "anomaly_score_fan_section_02_test.csv"
    with pytest.raises(AsdbenchError, match="layout"):
        write_submission(df, tmp_path / "c", layout="weird")
    assert not math.isnan(compute_metrics(df, "dcase2022")["average"]["official"])
