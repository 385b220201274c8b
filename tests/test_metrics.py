"""The core's metric protocols against hand computations, the protocol registry (third-party
protocols included, down to a run's metrics.json), and official submission files.

The DCASE 2021/2022 protocols are tested with their plugin (plugins/asdbench_dcase_editions/tests/)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import asdbench.metrics.builtin as builtin
import asdbench.plugins
from asdbench import hookimpl
from asdbench.config import resolve
from asdbench.metrics import (
    HMEAN_FLOOR,
    MetricProtocol,
    compute_all,
    compute_metrics,
    harmonic_mean,
    protocol_registry,
    roc_points,
    submission_name,
    write_submission,
)
from asdbench.metrics.core import score_groups, summary
from asdbench.plugins import load_plugins
from asdbench.registry import AsdbenchError, Component
from asdbench.run.pipeline import train_and_evaluate
from asdbench.testing import pairwise_auc, score_table


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
    return score_table(rows)


def test_core_registers_only_its_own_protocols():
    core = protocol_registry(load_plugins(entry_points_enabled=False))
    assert core.names() == ["dcase2020", "pooled"]
    assert {p.package for p in core} == {"asdbench"}
    everything = protocol_registry()
    assert {"dcase2020", "pooled"} < set(everything.names())
    assert all(p.description for p in everything)
    # registered as a plugin of its own (as the core's plugins are), it still counts once
    as_plugin = protocol_registry(load_plugins([("asdbench-metrics", builtin)],
                                               entry_points_enabled=False))
    assert as_plugin.names() == ["dcase2020", "pooled"]
    assert as_plugin.get("pooled").plugin == "asdbench-metrics"


def test_auc_matches_pair_counting():
    df = score_table([("fan", "00", "", 0, 0.1), ("fan", "00", "", 0, 0.4), ("fan", "00", "", 1, 0.35),
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
        auc, pauc = pairwise_auc(y, s), _pauc(y, s)
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
        assert pooled["types"][mtype]["auc"] == pytest.approx(pairwise_auc(y, s))
        assert pooled["types"][mtype]["pauc"] == pytest.approx(_pauc(y, s))
        # mAUC is still the lowest per-ID AUC, identical under both protocols
        assert pooled["types"][mtype]["mauc"] == pytest.approx(official["types"][mtype]["mauc"])
    # fan's IDs live on different score scales: pooling changes the number
    assert abs(pooled["types"]["fan"]["auc"] - official["types"]["fan"]["auc"]) > 0.02
    assert pooled["average"]["auc"] == pytest.approx(
        np.mean([pooled["types"][t]["auc"] for t in ("fan", "ToyCar")]))
    assert pooled["ids"] == official["ids"]


def test_unlabelled_and_one_class_groups_are_left_out():
    df = score_table([("fan", "00", "", 0, 0.1), ("fan", "00", "", 1, 0.9),
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


def test_harmonic_mean_floors_zero_values():
    assert harmonic_mean([0.0, 1.0]) == pytest.approx(2 * HMEAN_FLOOR, rel=1e-6)
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        harmonic_mean([])


def test_submission_layout_by_name(tmp_path, scores2020):
    df = scores2020.assign(domain=np.where(np.arange(len(scores2020)) % 2, "source", "target"))
    names = sorted(p.name for p in write_submission(df, tmp_path / "a", layout="section_domain"))
    assert names[:2] == ["anomaly_score_ToyCar_section_01_source_test.csv",
                         "anomaly_score_ToyCar_section_01_target_test.csv"] and len(names) == 8
    # a protocol name selects its edition's layout; auto sees domains and picks "section"
    assert [p.name for p in write_submission(df, tmp_path / "b", layout="pooled")][0] == \
        "anomaly_score_ToyCar_id_01.csv"
    assert [p.name for p in write_submission(df, tmp_path / "c")][0] == \
        "anomaly_score_ToyCar_section_01_test.csv"
    assert submission_name("fan", "id_04") == "anomaly_score_fan_id_04.csv"
    assert submission_name("fan", "section_02", layout="section") == \
        "anomaly_score_fan_section_02_test.csv"
    with pytest.raises(AsdbenchError, match="layouts: id, section, section_domain or a protocol"):
        write_submission(df, tmp_path / "d", layout="weird")


# --- third-party protocols ---------------------------------------------------------------------


def median_id(df: pd.DataFrame) -> dict:
    """A third party's protocol: per type the median of its per-ID AUCs/pAUCs."""
    skipped: list[str] = []
    ids = score_groups(df, ["machine_type", "machine_id"], skipped)
    types = {}
    for mtype in sorted(df["machine_type"].unique()):
        own = [e for k, e in ids.items() if k.startswith(f"{mtype}/")]
        if own:
            types[mtype] = {"auc": float(np.median([e["auc"] for e in own])),
                            "pauc": float(np.median([e["pauc"] for e in own])),
                            "mauc": min(e["auc"] for e in own)}
    return summary(types, ids, skipped, official=types and min(t["auc"] for t in types.values()))


MEDIAN = MetricProtocol("median-id", median_id, "median over IDs; official = worst type",
                        submission_layout="section")


class ProtocolPlugin:
    """A third-party package: a protocol, and a dataset reported under it first."""

    @hookimpl
    def asdbench_protocols(self) -> list[MetricProtocol]:
        return [MEDIAN]

    @hookimpl
    def asdbench_datasets(self) -> list[Component]:
        synthetic = load_plugins(only={"datasets"}).registry.get("dataset", "synthetic")

        def make(options):
            ds = synthetic.create(options)
            ds.protocols = ("median-id", "dcase2020")
            return ds

        return [Component("synthetic-median", make, dict(synthetic.options),
                          "synthetic data scored by median-id")]


def test_third_party_protocol_by_name(scores2020):
    registry = protocol_registry(load_plugins([("median-plugin", ProtocolPlugin())]))
    assert registry.get("median-id").plugin == "median-plugin"
    got = compute_all(scores2020, ["median-id", "dcase2020"], registry=registry)
    ref = got["dcase2020"]
    assert got["median-id"]["ids"] == ref["ids"]
    for mtype in ("fan", "ToyCar"):  # two IDs each: the median is their mean
        assert got["median-id"]["types"][mtype]["auc"] == pytest.approx(ref["types"][mtype]["auc"])
    assert got["median-id"]["average"]["official"] == min(
        t["auc"] for t in got["median-id"]["types"].values())
    with pytest.raises(AsdbenchError, match="unknown metric protocol 'median-id'"):
        compute_all(scores2020, ["median-id"])  # not installed in the process-wide set


def test_protocol_lookup_errors(scores2020):
    with pytest.raises(AsdbenchError, match=r"dataset 'mine' lists unknown metric protocol "
                                            r"'nope'; protocols: dcase2020, .*pooled"):
        compute_all(scores2020, ["dcase2020", "nope"], dataset="mine")

    class Twice:
        @hookimpl
        def asdbench_protocols(self):
            return [MetricProtocol("pooled", median_id)]

    with pytest.raises(AsdbenchError, match="'pooled' is provided twice: by asdbench and by twice"):
        protocol_registry(load_plugins([("twice", Twice())], entry_points_enabled=False))

    class Broken:
        @hookimpl
        def asdbench_protocols(self):
            return ["dcase2099"]

    registry = protocol_registry(load_plugins([("broken", Broken())], entry_points_enabled=False))
    assert registry.names() == ["dcase2020", "pooled"]
    with pytest.raises(AsdbenchError, match="failed to load: broken .*expected MetricProtocol"):
        registry.get("dcase2099")
    with pytest.raises(AsdbenchError, match="'empty' .* returned no"):
        compute_metrics(scores2020, MetricProtocol("empty", lambda df: {}))
    needs = MetricProtocol("needs", median_id, columns=("domain",), domains=("source", "target"))
    with pytest.raises(AsdbenchError, match="lacks column.*domain needed by metric protocol"):
        compute_metrics(scores2020.drop(columns=["domain"]), needs)
    with pytest.raises(AsdbenchError, match="needs domain 'source' or 'target'.*found ''"):
        compute_metrics(scores2020, needs)
    with pytest.raises(AsdbenchError, match="submission_layout 'flat'"):
        protocol_registry(load_plugins([("flat", _Single(MetricProtocol(
            "flat", median_id, submission_layout="flat")))], entry_points_enabled=False))


class _Single:
    def __init__(self, protocol: MetricProtocol) -> None:
        self.protocol = protocol

    @hookimpl
    def asdbench_protocols(self):
        return [self.protocol]


TINY = {"dataset": "synthetic-median", "data.types": "fan", "data.ids_per_type": 2,
        "data.train_per_id": 8, "data.test_normal_per_id": 3, "data.test_anomaly_per_id": 3,
        "data.clip_seconds": 1.0, "frontend": "logmel", "method": "os-scl",
        "train.epochs": 1, "train.batch_size": 8, "train.device": "cpu"}


@pytest.mark.slow
def test_third_party_protocol_appears_in_the_runs_metrics(tmp_path, monkeypatch):
    plugins = load_plugins([("median-plugin", ProtocolPlugin())])
    monkeypatch.setattr(asdbench.plugins, "default_plugins", lambda: plugins)
    cfg = resolve(TINY, plugins.registry)
    run_dir = train_and_evaluate(cfg, tmp_path, progress=False)[1].path
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["official_protocol"] == "median-id" and list(m["protocols"]) == ["median-id",
                                                                             "dcase2020"]
    scores = pd.read_csv(run_dir / "scores.csv")
    want = compute_metrics(scores, MEDIAN)
    assert m["protocols"]["median-id"]["types"]["fan"]["auc"] == pytest.approx(
        want["types"]["fan"]["auc"])
    got = m["protocols"]["median-id"]["average"]
    # the run adds the decision metrics (precision, recall, F1) to what the protocol computes
    assert {k: got[k] for k in want["average"]} == pytest.approx(want["average"])
    assert {"precision", "recall", "f1"} <= set(got)
    # the official protocol's layout names the submission files
    assert sorted(p.name for p in (run_dir / "submission").iterdir()) == [
        f"{kind}_fan_section_{s}_test.csv" for kind in ("anomaly_score", "decision_result")
        for s in ("00", "01")]
