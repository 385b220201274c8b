"""Leaderboard: collecting runs, seeds into mean ± std, ranking, output formats, plots."""

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from asdbench_osscl.tables import table_kinds as paper_table_kinds
from click.testing import CliRunner

from asdbench import hookimpl
from asdbench.commands.leaderboard import leaderboard_command
from asdbench.config import resolve, run_id
from asdbench.leaderboard.collect import MEASURED, collect, matrix_run_ids, reference_frame
from asdbench.leaderboard.render import display_columns, render
from asdbench.leaderboard.tables import TableKind, default_kind, table, table_kinds
from asdbench.registry import AsdbenchError, Component, Registry

PAPER = {kind.name: kind for kind in paper_table_kinds()}


def registry() -> Registry:
    reg = Registry()
    none = lambda *a, **k: None  # noqa: E731
    reg.add("dataset", Component("synthetic", none, {"types": "fan,pump"}))
    reg.add("dataset", Component("dcase2020", none, {"types": "fan,pump", "root": "",
                                                     "eval_root": ""}))
    reg.add("dataset", Component("synthetic-shift", none, {"types": "fan,pump"}))
    reg.add("frontend", Component("logmel", none, {"n_mels": 128}))
    reg.add("frontend", Component("tfstgram", none, {"n_mels": 128}))
    reg.add("backbone", Component("mobilefacenet", none, {}))
    reg.add("method", Component("os-scl", none, {"margin": "auto", "fph_reduction": 64}))
    reg.add("method", Component("arcface", none, {"margin": 0.7}))
    reg.add("scorer", Component("ce", none, {}))
    return reg


def protocols_of(aucs: dict[str, float]) -> dict[str, dict]:
    """A run's metrics per protocol: per-type AUC as given, pAUC = AUC - 0.1, two IDs per
    type (at most 1); ``pooled`` 0.01 above ``dcase2020``."""
    protocols = {}
    for proto, shift in (("dcase2020", 0.0), ("pooled", 0.01)):
        types = {t: {"auc": a + shift, "pauc": a + shift - 0.1, "mauc": a + shift - 0.05}
                 for t, a in aucs.items()}
        ids = {f"{t}/0{i}": {"auc": min(1.0, a + shift + (0.05 if i else -0.05)), "pauc": a - 0.1,
                             "n_normal": 6, "n_anomaly": 6}
               for t, a in aucs.items() for i in (0, 1)}
        average = {k: float(np.mean([v[k] for v in types.values()])) for k in ("auc", "pauc", "mauc")}
        protocols[proto] = {"protocol": proto, "average": {**average, "official": None},
                            "types": types, "ids": ids}
    return protocols


def write_run(results: Path, aucs: dict[str, float], reg: Registry | None = None,
              scores: bool = False, sets: dict[str, dict[str, float]] | None = None,
              **overrides) -> Path:
    """A finished run folder; per-type AUC as given, pAUC = AUC - 0.1, two IDs per type.
    ``sets``: per test set its per-type AUCs, written as a run evaluating its sets apart
    does (``sets``, the top-level ``protocols`` those of ``dev``); None: a run written before
    sets were kept apart (top-level ``protocols`` only)."""
    cfg = resolve(overrides, reg or registry())
    rid = run_id(cfg)
    run = results / "runs" / rid
    run.mkdir(parents=True)
    metrics = {"run_id": rid, "config": cfg, "official_protocol": "dcase2020",
               "protocols": protocols_of(aucs), "best_epoch": 1, "epochs": 2,
               "wall_time_s": 3.5}
    if sets is not None:
        metrics["sets"] = {name: {"n_clips": 24 * len(a), "n_labelled": 24 * len(a),
                                  "protocols": protocols_of(a)} for name, a in sets.items()}
        metrics["protocols"] = metrics["sets"].get("dev", {}).get("protocols", {})
        metrics["official_set"] = "eval" if "eval" in sets else next(iter(sets))
    (run / "metrics.json").write_text(json.dumps(metrics))
    if scores:
        rng = np.random.default_rng(cfg["seed"])
        rows = []
        for t in aucs:
            for label in (0, 1):
                for k in range(20):
                    rows.append({"file": f"{t}_{label}_{k}.wav", "machine_type": t,
                                 "machine_id": "00", "domain": "", "label": label,
                                 "score": rng.normal(label * 1.5)})
        pd.DataFrame(rows).to_csv(run / "scores.csv", index=False)
    return run


@pytest.fixture
def results(tmp_path):
    """3 recipes: os-scl (3 seeds), arcface (2 seeds), os-scl with fph_reduction 32 (1 seed).
    The dataset is called dcase2020 so that published rows apply."""
    res = tmp_path / "results"
    for seed, fan in ((0, 0.90), (1, 0.92), (2, 0.94)):
        write_run(res, {"fan": fan, "pump": 0.80}, seed=seed, method="os-scl", frontend="logmel",
                  scores=True, dataset="dcase2020")
    for seed, fan in ((0, 0.70), (1, 0.74)):
        write_run(res, {"fan": fan, "pump": 0.60}, seed=seed, method="arcface",
                  frontend="logmel", scores=True, dataset="dcase2020")
    write_run(res, {"fan": 0.99, "pump": 0.99}, seed=0, method="os-scl", frontend="logmel",
              dataset="dcase2020", **{"method.fph_reduction": 32})
    (res / "runs" / "unfinished").mkdir()  # no metrics.json: not a row
    return res


def test_collect_has_one_row_per_run_and_protocol_with_identity_and_metrics(results):
    df = collect(results, registry())
    assert len(df) == 6 * 2
    assert set(df["protocol"]) == {"dcase2020", "pooled"}
    assert df["official"].sum() == 6
    row = df[(df["method"] == "arcface") & (df["seed"] == 1) & df["official"]].iloc[0]
    assert (row["frontend"], row["backbone"], row["dataset"], row["scorer"]) == (
        "logmel", "mobilefacenet", "dcase2020", "ce")
    assert row["fan.auc"] == pytest.approx(0.74) and row["pump.pauc"] == pytest.approx(0.5)
    assert row["fan/01.auc"] == pytest.approx(0.79)
    assert row["average.auc"] == pytest.approx(0.67)
    assert "fan/01.n_normal" not in df.columns  # counts are not metrics
    assert set(df["settings"]) == {"", "method.fph_reduction=32"}


def test_settings_are_every_non_default_setting_except_seed_and_device(tmp_path):
    res = tmp_path / "r"
    write_run(res, {"fan": 0.9}, seed=5, method="arcface", frontend="logmel",
              **{"train.device": "cpu", "train.epochs": 3, "method.margin": 0.4})
    df = collect(res, registry())
    assert df["settings"].iloc[0] == "method.margin=0.4, train.epochs=3"


def test_dataset_folders_count_by_name_so_machines_merge(tmp_path):
    res = tmp_path / "r"
    for seed, root in ((0, "/home/a/data/dcase2020"), (1, "/mnt/fast/dcase2020/")):
        write_run(res, {"fan": 0.9}, seed=seed, dataset="dcase2020", **{"data.root": root})
    write_run(res, {"fan": 0.9}, seed=2, dataset="dcase2020",
              **{"data.root": "/x/dcase2020", "data.eval_root": "/x/dcase2020-eval"})
    tbl = table(collect(res, registry()))
    assert sorted(tbl["settings"]) == ["data.eval_root=dcase2020-eval, data.root=dcase2020",
                                       "data.root=dcase2020"]
    assert sorted(tbl["n"]) == [1, 2]


def test_table_groups_seeds_into_mean_std_and_ranks(results):
    tbl = table(collect(results, registry()), protocol="dcase2020")
    assert list(tbl["rank"]) == [1, 2, 3]
    assert list(tbl["settings"]) == ["method.fph_reduction=32", "", ""]
    assert list(tbl["method"]) == ["os-scl", "os-scl", "arcface"]
    assert list(tbl["n"]) == [1, 3, 2]
    osscl = tbl.iloc[1]
    assert osscl["seeds"] == "0,1,2"
    assert osscl["fan.auc_mean"] == pytest.approx(0.92)
    assert osscl["fan.auc_std"] == pytest.approx(np.std([0.90, 0.92, 0.94], ddof=1))
    assert osscl["average.auc_mean"] == pytest.approx(0.86)
    assert np.isnan(tbl.iloc[0]["fan.auc_std"])  # one seed: no std
    assert tbl.attrs["metrics"] == ["fan.auc", "fan.pauc", "pump.auc", "pump.pauc",
                                    "average.auc", "average.pauc"]


def test_protocols_are_never_mixed(results):
    df = collect(results, registry())
    pooled = table(df, protocol="pooled")
    assert pooled.iloc[1]["fan.auc_mean"] == pytest.approx(0.93)
    official = table(df)  # each run's official protocol
    assert set(official["protocol"]) == {"dcase2020"}
    with pytest.raises(AsdbenchError, match="no finished run has protocol 'dcase2022'; "
                       "protocols: dcase2020, pooled"):
        table(df, protocol="dcase2022")


def test_table_kinds_and_per_id_columns(results):
    df = collect(results, registry())
    t4 = table(df, kind=PAPER["table4"])
    assert t4.attrs["metrics"] == ["fan.mauc", "pump.mauc", "average.mauc"]
    t6 = table(df, kind=PAPER["table6"])
    assert t6.attrs["metrics"] == ["fan.auc", "pump.auc", "average.auc"]
    t4_ids = table(df, kind=PAPER["table4"], by="id")  # per ID: the AUC whose minimum is mAUC
    assert t4_ids.attrs["metrics"] == ["fan/00.auc", "fan/01.auc", "pump/00.auc", "pump/01.auc",
                                       "average.mauc"]
    by_id = table(df, by="id")
    assert by_id.attrs["metrics"][:4] == ["fan/00.auc", "fan/00.pauc", "fan/01.auc", "fan/01.pauc"]
    assert by_id.iloc[1]["fan/01.auc_mean"] == pytest.approx(0.97)


def test_different_recipes_that_look_alike_are_not_merged(tmp_path):
    """Runs whose plugin is gone cannot be described by settings; the recipe hash splits them."""
    res = tmp_path / "r"
    reg = registry()
    reg.add("method", Component("gone", lambda *a, **k: None, {"margin": 0.1}))
    write_run(res, {"fan": 0.9}, reg, method="gone", **{"method.margin": 0.2})
    write_run(res, {"fan": 0.8}, reg, method="gone", **{"method.margin": 0.3})
    df = collect(res, registry())  # this registry lacks "gone"
    assert set(df["settings"]) == {""} and df["note"].str.startswith("defaults unknown").all()
    tbl = table(df)
    assert len(tbl) == 2 and list(tbl["n"]) == [1, 1]
    shown, _ = display_columns(tbl)
    assert "recipe" in shown


def test_markdown_has_one_line_per_row(results):
    tbl = table(collect(results, registry()))
    text = render(tbl, "markdown")
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 3  # header, separator, rows
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:6] == ["rank", "method", "frontend", "settings", "n", "fan AUC"]
    row = [c.strip() for c in lines[3].strip("|").split("|")]
    assert row[1] == "os-scl" and row[4] == "3" and row[5] == "92.00 ± 2.00"
    assert "protocol: official protocol of each dataset" in text
    assert "dataset: dcase2020" in text  # constant columns move to the caption


def test_csv_reads_back_with_the_numbers(results):
    tbl = table(collect(results, registry()))
    back = pd.read_csv(io.StringIO(render(tbl, "csv")), keep_default_na=False)
    assert len(back) == 3
    assert back.loc[1, "fan.auc_mean"] == pytest.approx(0.92)
    assert back.loc[1, "n"] == 3 and back.loc[1, "settings"] == ""


def test_latex_is_a_booktabs_tabular_with_escapes(results):
    text = render(table(collect(results, registry())), "latex")
    assert "\\begin{tabular}" in text and "\\end{tabular}" in text and "\\toprule" in text
    body = [ln for ln in text.splitlines() if ln.endswith("\\\\")]
    assert len(body) == 1 + 3
    assert "method.fph\\_reduction=32" in text and "$\\pm$" in text
    ncols = len(body[0].split(" & "))
    assert all(len(ln.split(" & ")) == ncols for ln in body)
    assert re.search(r"\\begin\{tabular\}\{rl+r+\}", text)


def test_html_and_rich(results):
    tbl = table(collect(results, registry()))
    html = render(tbl, "html")
    assert html.count("<tr") == 1 + 3
    rich = render(tbl, "rich")
    assert "92.00 ± 2.00" in rich and "os-scl" in rich
    tbl.loc[0, "settings"] = "data.types=[fan,pump]"  # list values look like rich markup
    assert "data.types=[fan,pump]" in render(tbl, "rich")


REFS = [[
    {"source": "Paper, Table II", "table": "table2", "label": "Log-Mel(OS-SCL)",
     "method": "os-scl", "frontend": "logmel", "backbone": "mobilefacenet",
     "dataset": "dcase2020", "protocol": "pooled",
     "metrics": {"fan": {"auc": 0.9566, "pauc": 0.8859}, "average": {"auc": 0.9464,
                                                                     "pauc": 0.8842}}},
    {"source": "Paper, Table VI", "table": "table6", "method": "os-scl", "frontend": "tfstgram",
     "backbone": "mobilefacenet", "dataset": "dcase2020", "protocol": "pooled",
     "settings": {"method.fph_reduction": 32}, "metrics": {"average": {"auc": 0.9546}}},
]]


def test_reference_rows_are_labelled_and_filtered_by_table_and_protocol(results):
    df = collect(results, registry())
    refs = reference_frame(REFS)
    tbl = table(df, protocol="pooled", kind=PAPER["table2"], references=refs)
    ref = tbl[tbl["source"] != MEASURED]
    assert len(ref) == 1 and len(tbl) == 4
    assert ref.iloc[0]["source"] == "reference: Paper, Table II — Log-Mel(OS-SCL)"
    assert ref.iloc[0]["rank"] == 2 and ref.iloc[0]["n"] == 0  # ranked with the measured rows
    assert ref.iloc[0]["average.auc_mean"] == pytest.approx(0.9464)
    assert np.isnan(ref.iloc[0]["pump.auc_mean"])
    md = render(tbl, "markdown")
    assert "reference: Paper, Table II" in md and "| ref |" in md and "| — |" in md
    assert len(table(df, protocol="dcase2020", kind=PAPER["table2"], references=refs)) == 3  # other protocol
    other = table(df, protocol="pooled", kind=PAPER["table2"],
                  references=refs.assign(dataset="dcase2021"))  # another dataset: its own track
    tracks = other.attrs["tracks"]
    assert [len(other[other["track"] == t["track"]]) for t in tracks] == [3, 1]
    assert tracks[1]["track"] == "dcase2021·published" and list(other["rank"]) == [1, 2, 3, 1]
    assert tracks[1]["note"] == "no run of dcase2021 here: published numbers only"
    t6 = table(df, protocol="pooled", kind=PAPER["table6"], references=refs)
    assert t6[t6["source"] != MEASURED]["settings"].tolist() == ["method.fph_reduction=32"]


def test_shipped_reference_results_become_rows():
    from asdbench.plugins import default_plugins

    hook = default_plugins().hook.asdbench_reference_results()
    if not hook:
        pytest.skip("no plugin provides reference results")
    refs = reference_frame(hook)
    assert len(refs) == sum(len(x) for x in hook)
    assert refs["source"].str.startswith("reference: ").all()
    t2 = table(pd.DataFrame(), protocol="pooled", kind=PAPER["table2"], references=refs)
    assert len(t2) >= 1 and (t2["average.auc_mean"].between(0, 1)).all()


def test_plots_are_pngs(results, tmp_path):
    from asdbench.leaderboard.plots import make_plots

    df = collect(results, registry())
    paths = make_plots(df, table(df), tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert "leaderboard_average.auc.png" in names
    assert {"roc_fan.png", "roc_pump.png"} <= set(names)
    assert sum(n.startswith("scores_") for n in names) == 2  # the two rows with scores.csv
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "plots").glob(".*"))  # no temporary file left behind


def test_command_writes_atomically_and_only_reads_results(results, tmp_path, monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    before = sorted((p, p.stat().st_mtime_ns) for p in results.rglob("*"))
    out = tmp_path / "board.csv"
    res = CliRunner().invoke(leaderboard_command, [
        "--results", str(results), "--format", "csv", "--out", str(out), "--protocol", "pooled",
        "--plots", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    back = pd.read_csv(out)
    assert len(back) == 3 and set(back["protocol"]) == {"pooled"}
    assert (tmp_path / "plots" / "roc_fan.png").exists()
    assert sorted((p, p.stat().st_mtime_ns) for p in results.rglob("*")) == before
    md = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--format",
                                                     "markdown", "--table", "table4"])
    assert md.exit_code == 0 and "fan mAUC" in md.output


def test_command_on_an_empty_folder_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(leaderboard_command, ["--results", str(tmp_path)])
    assert isinstance(res.exception, AsdbenchError)
    assert "no finished run" in str(res.exception)


# --- DCASE 2021+ official score ----------------------------------------------------------------


def write_dcase2022_run(results: Path, official: float, auc: float, **overrides) -> Path:
    """A finished run under the dcase2022 protocol (its dataset's official one), laid out as
    ``asdbench run --dataset synthetic-shift`` writes it: ``average.official`` next to the
    arithmetic means, per-type ``hmean``, per-section source/target AUCs."""
    cfg = resolve({"dataset": "synthetic-shift", **overrides}, registry())
    rid = run_id(cfg)
    run = results / "runs" / rid
    run.mkdir(parents=True)
    types = {t: {"auc": auc, "pauc": auc - 0.1, "mauc": auc - 0.2, "auc_source": auc + 0.05,
                 "auc_target": auc - 0.05, "hmean": official} for t in ("fan", "pump")}
    ids = {f"{t}/0{i}": {"auc": auc, "pauc": auc - 0.1, "auc_source": auc + 0.05,
                         "auc_target": auc - 0.05, "n_normal": 16, "n_anomaly": 16,
                         "n_normal_source": 8, "n_normal_target": 8}
           for t in ("fan", "pump") for i in (0, 1)}
    average = {"auc": auc, "pauc": auc - 0.1, "mauc": auc - 0.2, "official": official,
               "auc_source": auc + 0.05, "auc_target": auc - 0.05, "hmean_pauc": auc - 0.1}
    (run / "metrics.json").write_text(json.dumps({
        "run_id": rid, "config": cfg, "official_protocol": "dcase2022",
        "protocols": {"dcase2022": {"protocol": "dcase2022", "average": average, "types": types,
                                    "ids": ids, "skipped": []}},
        "best_epoch": 1, "epochs": 2, "wall_time_s": 1.0}))
    return run


@pytest.fixture
def shift_results(tmp_path):
    """Two dcase2022 recipes, 2 seeds each; arcface has the higher AUC, os-scl the higher
    official score, so the two rankings differ."""
    res = tmp_path / "shift"
    for seed, official in ((0, 0.60), (1, 0.64)):
        write_dcase2022_run(res, official, 0.80, seed=seed, method="arcface", frontend="logmel")
    for seed, official in ((0, 0.70), (1, 0.66)):
        write_dcase2022_run(res, official, 0.75, seed=seed, method="os-scl", frontend="logmel")
    return res


def test_official_score_is_a_column_and_ranks_dcase2022_rows(shift_results):
    tbl = table(collect(shift_results, registry()))
    assert tbl.attrs["metrics"] == ["fan.auc", "fan.pauc", "pump.auc", "pump.pauc",
                                    "average.official", "average.auc", "average.pauc"]
    assert tbl.attrs["primary"] == "average.official"
    assert list(tbl["method"]) == ["os-scl", "arcface"]  # by official, though AUC says otherwise
    assert list(tbl["rank"]) == [1, 2]
    osscl, arcface = tbl.iloc[0], tbl.iloc[1]
    assert osscl["average.official_mean"] == pytest.approx(0.68)
    assert osscl["average.official_std"] == pytest.approx(np.std([0.70, 0.66], ddof=1))
    assert arcface["average.official_mean"] == pytest.approx(0.62)
    assert arcface["average.official_std"] == pytest.approx(0.02 * np.sqrt(2))
    assert arcface["average.auc_mean"] > osscl["average.auc_mean"]
    assert PAPER["table2"].primary_metric(tbl.attrs["metrics"]) == "average.official"
    assert PAPER["table2"].primary_metric() == "average.auc"


def test_official_column_in_every_format(shift_results):
    tbl = table(collect(shift_results, registry()))
    md = render(tbl, "markdown")
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    # the interval of the ranking metric follows it
    assert header[-4:] == ["official", "95 % CI", "average AUC", "average pAUC"]
    first = [c.strip() for c in lines[2].strip("|").split("|")]
    assert first[header.index("official")] == "68.00 ± 2.83"
    assert "official: DCASE 2021+ score" in md and "ranks the rows" in md
    back = pd.read_csv(io.StringIO(render(tbl, "csv")))
    assert list(back["average.official_mean"]) == pytest.approx([0.68, 0.62])
    latex = render(tbl, "latex")
    body = [ln for ln in latex.splitlines() if ln.endswith("\\")]
    assert len(body) == 1 + 2 and "official" in body[0]
    assert all(len(ln.split(" & ")) == len(header) for ln in body)
    assert "<th>official</th>" in render(tbl, "html")
    rich = render(tbl, "rich")
    assert "official" in rich and "62.00 ± 2.83" in rich


def test_dcase2020_tables_have_no_official_column(results):
    df = collect(results, registry())
    assert df["average.official"].isna().all()  # the runs store official: null
    for protocol in ("dcase2020", "pooled", None):
        tbl = table(df, protocol=protocol)
        assert "average.official" not in tbl.attrs["metrics"]
        assert "average.official_mean" not in tbl.columns
        assert tbl.attrs["primary"] == "average.auc"
    md = render(table(df), "markdown")
    assert "official" not in md.splitlines()[2] and "DCASE 2021+" not in md


def test_table4_keeps_mauc_ranking_and_shows_official(shift_results):
    tbl = table(collect(shift_results, registry()), kind=PAPER["table4"])
    assert tbl.attrs["metrics"] == ["fan.mauc", "pump.mauc", "average.official", "average.mauc"]
    assert tbl.attrs["primary"] == "average.mauc"
    assert list(tbl["method"]) == ["arcface", "os-scl"]  # mAUC 0.60 > 0.55
    assert "ranks the rows" not in render(tbl, "markdown")


def test_datasets_scored_under_their_own_protocols_are_separate_tracks(results, shift_results):
    """Each dataset's official protocol: the dcase2020 rows (no official score) and the
    dcase2022 ones are two tracks, each ranked by its own metric, ranks restarting."""
    for run in (results / "runs").glob("*/metrics.json"):
        dest = shift_results / "runs" / run.parent.name
        dest.mkdir()
        (dest / "metrics.json").write_bytes(run.read_bytes())
    tbl = table(collect(shift_results, registry()))
    assert list(zip(tbl["protocol"], tbl["method"], tbl["settings"], tbl["rank"],
                    strict=True)) == [
        ("dcase2020", "os-scl", "method.fph_reduction=32", 1), ("dcase2020", "os-scl", "", 2),
        ("dcase2020", "arcface", "", 3), ("dcase2022", "os-scl", "", 1),
        ("dcase2022", "arcface", "", 2)]
    tracks = tbl.attrs["tracks"]
    assert [(t["track"].split("·")[0], t["primary"]) for t in tracks] == [
        ("dcase2020", "average.auc"), ("synthetic-shift", "average.official")]
    assert "average.official" not in tracks[0]["metrics"]
    md = render(tbl, "markdown")
    assert md.count("### track ") == 2 and "| — |" not in md  # no empty official column


def test_command_with_plots_on_official_protocol(shift_results, tmp_path, monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    plots = tmp_path / "plots"
    res = CliRunner().invoke(leaderboard_command, [
        "--results", str(shift_results), "--format", "markdown", "--plots", str(plots)])
    assert res.exit_code == 0, res.output
    assert "| official |" in res.output and "68.00 ± 2.83" in res.output
    pngs = list(plots.glob("leaderboard_*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_matrix_option_keeps_only_that_matrix_runs(results, tmp_path, monkeypatch):
    """``--matrix`` limits the table to the cells of one matrix config (here: the arcface
    seeds), whatever else the results folder holds."""
    matrix = tmp_path / "m.toml"
    matrix.write_text('name = "m"\n[axes]\nseed = [0, 1]\n[settings]\nmethod = "arcface"\n'
                      'frontend = "logmel"\ndataset = "dcase2020"\n')
    ids = matrix_run_ids(matrix, registry())
    assert len(ids) == 2 and all(i.startswith("arcface_logmel") for i in ids)
    import asdbench.plugins  # noqa: PLC0415

    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--matrix",
                                                      str(matrix), "--format", "csv"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.output))
    assert list(frame["method"]) == ["arcface"] and int(frame["n"].iloc[0]) == 2


# --- table kinds from plugins --------------------------------------------------------------


class TablePlugin:
    """A third-party plugin with one table kind: arcface rows only, per type AUC, pooled."""

    def __init__(self, *kinds: TableKind):
        self.kinds = list(kinds) or [TableKind(
            "arcface-auc", "arcface runs, AUC", metrics=("auc",), protocol="pooled",
            where={"method": ("arcface",)}, rank_by=("average.auc",))]

    @hookimpl
    def asdbench_tables(self):
        return self.kinds


def use_plugins(monkeypatch, *extra, block=()) -> None:
    """The command's plugins: the installed ones plus ``extra`` (name, object) pairs."""
    import asdbench.plugins

    loaded = asdbench.plugins.load_plugins(extra=list(extra), entry_points_enabled=True,
                                           block=set(block))
    monkeypatch.setattr(asdbench.plugins, "default_plugins", lambda: loaded)
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)


def test_a_third_party_table_kind_is_usable_with_table(results, monkeypatch):
    use_plugins(monkeypatch, ("t", TablePlugin()))
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--table",
                                                   "arcface-auc", "--format", "csv"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.stdout), keep_default_na=False)
    assert list(frame["method"]) == ["arcface"] and list(frame["protocol"]) == ["pooled"]
    assert frame.loc[0, "fan.auc_mean"] == pytest.approx(0.73)  # pooled: dcase2020 + 0.01
    assert [c for c in frame.columns if c.endswith("_mean")] == [
        "fan.auc_mean", "pump.auc_mean", "average.auc_mean"]
    md = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--table",
                                                  "arcface-auc", "--format", "markdown"])
    assert md.stdout.startswith("arcface-auc · protocol: pooled")


def test_an_unknown_table_is_a_one_line_error_listing_every_kind(results, monkeypatch):
    use_plugins(monkeypatch, ("t", TablePlugin()))
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--table", "nope"])
    assert isinstance(res.exception, AsdbenchError)
    assert str(res.exception) == ("unknown table 'nope'; tables: arcface-auc, table2, table3, "
                                  "table4, table6, types")


def test_the_default_table_is_the_one_a_plugin_offers_else_types(results, monkeypatch):
    from asdbench.plugins import load_plugins

    assert default_kind(table_kinds(load_plugins())).name == "table2"
    assert default_kind(table_kinds(load_plugins(block={"osscl"}))).name == "types"
    rival = TablePlugin(TableKind("mine", "also a default", default=True))
    assert default_kind(table_kinds(load_plugins(extra=[("t", rival)]))).name == "types"
    use_plugins(monkeypatch, block=("osscl",))  # the paper's tables are gone: types is left
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--format",
                                                   "markdown"])
    assert res.exit_code == 0 and res.stdout.startswith("types · protocol: official")
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--table",
                                                   "table4"])
    assert str(res.exception) == "unknown table 'table4'; tables: types"


def test_a_table_name_provided_twice_names_both_and_a_broken_plugin_is_skipped():
    from asdbench.plugins import load_plugins

    with pytest.raises(AsdbenchError, match="table 'types' is provided by both asdbench and "):
        table_kinds(load_plugins(extra=[("t", TablePlugin(TableKind("types", "again")))]))

    class Broken:
        @hookimpl
        def asdbench_tables(self):
            return ["not a kind"]

    loaded = load_plugins(extra=[("broken", Broken())])
    assert "table2" in table_kinds(loaded)
    assert "returned str, expected TableKind" in loaded.failures["broken"]
    with pytest.raises(ValueError, match="where names \\['run_id'\\]"):
        TableKind("x", "rows by run", where={"run_id": ("a",)})


def test_machine_types_are_alphabetical_in_types_and_in_the_paper_order_in_table2(tmp_path):
    res = tmp_path / "r"
    write_run(res, {"valve": 0.9, "ToyCar": 0.8, "fan": 0.7}, seed=0)
    df = collect(res, registry())
    assert table(df).attrs["metrics"][::2] == ["fan.auc", "ToyCar.auc", "valve.auc",
                                               "average.auc"]
    assert table(df, kind=PAPER["table2"]).attrs["metrics"][::2] == [
        "fan.auc", "valve.auc", "ToyCar.auc", "average.auc"]


def test_a_malformed_metrics_file_skips_its_run_with_a_one_line_warning(results, monkeypatch):
    use_plugins(monkeypatch)
    bad = {"truncated": '{"run_id": "x", "config": {', "list": "[1, 2]",
           "protocols": json.dumps({"config": {"method": "arcface"}, "protocols": [1]}),
           "seed": json.dumps({"config": {"seed": "zero"}, "protocols": {}}),
           "types": json.dumps({"config": {}, "protocols": {"pooled": {"types": {"fan": 3}}}})}
    for name, text in bad.items():
        (results / "runs" / name).mkdir()
        (results / "runs" / name / "metrics.json").write_text(text)
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--format",
                                                   "csv"])
    assert res.exit_code == 0, res.output
    warnings = res.stderr.splitlines()
    assert len(warnings) == len(bad)
    reasons = {"list": "ValueError: not a readable JSON object",
               "protocols": "TypeError: 'protocols' is not an object (list)",
               "seed": "TypeError: seed 'zero' is not an integer",
               "truncated": "ValueError: not a readable JSON object",
               "types": "TypeError: metrics of 'fan' are not an object (int)"}
    assert warnings == [f"warning: {results / 'runs' / name / 'metrics.json'}: unreadable "
                        f"({reason}); run skipped" for name, reason in reasons.items()]
    assert len(pd.read_csv(io.StringIO(res.stdout))) == 3  # the good runs, as before


# --- tracks --------------------------------------------------------------------------------


def test_runs_on_different_data_are_two_tracks_never_one_ranked_table(tmp_path):
    """Same methods, two data settings: two tables, each ranked on its own, each named by its
    track with the data setting that sets it apart; data settings leave the row's settings."""
    res = tmp_path / "r"
    for seed in (0, 1):
        write_run(res, {"fan": 0.70, "pump": 0.72}, seed=seed, method="os-scl",
                  frontend="logmel")
        write_run(res, {"fan": 0.60, "pump": 0.62}, seed=seed, method="arcface",
                  frontend="logmel")
        write_run(res, {"fan": 0.95}, seed=seed, method="arcface", frontend="logmel",
                  **{"data.types": "fan"})  # an easier test set: must not rank above
    tbl = table(collect(res, registry()))
    tracks = tbl.attrs["tracks"]
    assert len(tracks) == 2 and len({t["track"] for t in tracks}) == 2
    assert all(t["track"].startswith("synthetic·") for t in tracks)
    assert [t["differing"] for t in tracks] == ["types=fan,pump", "types=fan"]
    assert tracks[1]["title"] == (f"track {tracks[1]['track']} (types=fan) · set dev · protocol "
                                  "dcase2020")
    assert tracks[1]["data"] == "data.types=fan" and tracks[0]["data"] == ""
    assert list(zip(tbl["track"], tbl["method"], tbl["rank"], strict=True)) == [
        (tracks[0]["track"], "os-scl", 1), (tracks[0]["track"], "arcface", 2),
        (tracks[1]["track"], "arcface", 1)]
    assert set(tbl["settings"]) == {""} and list(tbl["n"]) == [2, 2, 2]
    md = render(tbl, "markdown")
    assert [ln for ln in md.splitlines() if ln.startswith("### ")] == [
        f"### {t['title']}" for t in tracks]
    assert md.count("| rank |") == 2 and "data: types=fan" in md
    assert tracks[1]["metrics"] == ["fan.auc", "fan.pauc", "average.auc", "average.pauc"]


def test_a_data_folder_counts_for_the_track_by_whether_one_is_given(tmp_path):
    res = tmp_path / "r"
    for seed, root in ((0, "/home/a/data/dcase2020"), (1, "/mnt/fast/dcase2020/")):
        write_run(res, {"fan": 0.9}, seed=seed, dataset="dcase2020", **{"data.root": root})
    write_run(res, {"fan": 0.9}, seed=2, dataset="dcase2020",
              **{"data.root": "/x/dcase2020", "data.eval_root": "/x/eval"})  # dev + eval
    df = collect(res, registry())
    df = df[df["official"]]
    assert df["track"].nunique() == 2
    assert sorted(df.groupby("track")["seed"].apply(sorted).tolist()) == [[0, 1], [2]]


def test_published_rows_join_their_dataset_track_or_stand_alone_with_a_note(results, tmp_path,
                                                                           monkeypatch):
    df = collect(results, registry())
    refs = reference_frame(REFS)
    joined = table(df, protocol="pooled", kind=PAPER["table2"], references=refs)
    assert joined["track"].nunique() == 1  # the dcase2020 runs have default data settings
    use_plugins(monkeypatch)
    synthetic = tmp_path / "synthetic"
    write_run(synthetic, {"fan": 0.8, "pump": 0.7}, seed=0, method="os-scl", frontend="logmel")
    res = CliRunner().invoke(leaderboard_command, ["--results", str(synthetic), "--reference",
                                                   "paper", "--format", "markdown"])
    assert res.exit_code == 0, res.output
    titles = [ln for ln in res.stdout.splitlines() if ln.startswith("### ")]
    assert titles[0].startswith("### track synthetic·")
    assert any(t.startswith("### track dcase2020·published") for t in titles[1:])
    assert "note: no run of dcase2020 here: published numbers only" in res.stdout
    assert "reference: OS-SCL paper" in res.stdout


# --- uncertainty -----------------------------------------------------------------------------


def loo_interval(values_of, n: int) -> float:
    """Half-width of the 95 % jackknife interval by hand: pseudo-values from leave-one-out."""
    from scipy.stats import t

    full = values_of(range(n))
    pseudo = [n * full - (n - 1) * values_of([j for j in range(n) if j != i]) for i in range(n)]
    se = np.sqrt(np.sum((np.array(pseudo) - np.mean(pseudo)) ** 2) / (n * (n - 1)))
    return float(t.ppf(0.975, n - 1) * se)


def test_the_jackknife_of_a_mean_is_the_t_interval_of_the_mean():
    from scipy.stats import t

    from asdbench.leaderboard.ranking import jackknife

    x = [0.61, 0.74, 0.92, 0.55, 0.83]
    estimate, half = jackknife(x, lambda units: float(np.mean(units)))
    assert estimate == pytest.approx(np.mean(x))
    assert half == pytest.approx(t.ppf(0.975, 4) * np.std(x, ddof=1) / np.sqrt(5))
    assert np.isnan(jackknife([0.5], np.mean)[1])


def test_row_interval_equals_leave_one_id_out_on_hand_made_scores(tmp_path):
    """Per-ID AUCs by hand (two seeds, 2 fan + 3 pump IDs): the row's interval is the jackknife
    over the 5 IDs of the mean over types of the mean over IDs, seeds averaged per ID."""
    seeds = {0: {"fan/00": 0.90, "fan/01": 0.70, "pump/00": 0.80, "pump/01": 0.60,
                 "pump/02": 0.95},
             1: {"fan/00": 0.86, "fan/01": 0.74, "pump/00": 0.84, "pump/01": 0.50,
                 "pump/02": 0.91}}
    res = tmp_path / "r"
    for seed, ids in seeds.items():
        run = write_run(res, {"fan": 0.5, "pump": 0.5}, seed=seed, method="arcface",
                        frontend="logmel")
        metrics = json.loads((run / "metrics.json").read_text())
        proto = metrics["protocols"]["dcase2020"]
        proto["ids"] = {k: {"auc": v, "pauc": v - 0.1} for k, v in ids.items()}
        for mtype in ("fan", "pump"):
            proto["types"][mtype]["auc"] = float(np.mean(
                [v for k, v in ids.items() if k.startswith(mtype)]))
        proto["average"]["auc"] = float(np.mean([proto["types"][t]["auc"] for t in proto["types"]]))
        (run / "metrics.json").write_text(json.dumps(metrics))
    keys = sorted(seeds[0])
    mean_id = [np.mean([seeds[s][k] for s in seeds]) for k in keys]

    def average(kept):
        fan = [mean_id[i] for i in kept if keys[i].startswith("fan")]
        pump = [mean_id[i] for i in kept if keys[i].startswith("pump")]
        return np.mean([np.mean(v) for v in (fan, pump) if v])

    row = table(collect(res, registry()), protocol="dcase2020").iloc[0]
    assert row["ci_n"] == 5
    assert row["average.auc_mean"] == pytest.approx(average(range(5)))
    assert row["average.auc_ci"] == pytest.approx(loo_interval(average, 5))
    assert 0 < row["average.auc_ci"] < 0.5


def test_official_score_interval_leaves_out_one_section_of_the_harmonic_mean():
    from scipy.stats import hmean

    from asdbench.leaderboard.ranking import interval

    secs = {"fan/00": (0.9, 0.6, 0.7), "fan/01": (0.8, 0.5, 0.6), "pump/00": (0.95, 0.7, 0.8)}
    runs = pd.DataFrame([{f"{k}.{m}": v for k, vals in secs.items()
                          for m, v in zip(("auc_source", "auc_target", "pauc"), vals,
                                          strict=True)}])
    keys = sorted(secs)
    half, n = interval(runs, "average.official")
    assert n == 3
    assert half == pytest.approx(loo_interval(
        lambda kept: hmean([v for i in kept for v in secs[keys[i]]]), 3))


def test_ranks_not_separated_by_their_intervals_are_ties():
    from asdbench.leaderboard.ranking import shared_ranks

    # A [0.88, 0.92] and B [0.86, 0.90] overlap; C [0.70, 0.80] lies below both; D has none
    ranks = shared_ranks([0.90, 0.88, 0.75, 0.74, np.nan], [0.02, 0.02, 0.05, np.nan, 0.1])
    assert ranks[:4] == [1, 1, 3, 3] and np.isnan(ranks[4])  # D (a point) sits inside C


def test_ties_are_marked_in_the_table_and_its_text(results):
    tbl = table(collect(results, registry()), protocol="dcase2020")
    # 4 IDs: wide intervals; arcface's lies wholly below fph_reduction=32's
    assert list(tbl["rank_ci"]) == [1, 1, 2] and list(tbl["tie"]) == [True, True, False]
    first, arcface = tbl.iloc[0], tbl.iloc[2]
    assert (arcface["average.auc_mean"] + arcface["average.auc_ci"]
            < first["average.auc_mean"] - first["average.auc_ci"])
    md = render(tbl, "markdown")
    ranks = [ln.split("|")[1].strip() for ln in md.splitlines()[4:7]]
    assert ranks == ["=1", "=1", "2"] and "95 % CI of average AUC: jackknife over 4" in md
    osscl = tbl.iloc[1]
    low = 100 * (osscl["average.auc_mean"] - osscl["average.auc_ci"])
    assert f"{low:.2f}–" in md


# --- terminal ----------------------------------------------------------------------------------


def test_rich_tables_fit_an_80_column_terminal_and_say_what_they_leave_out(results):
    from asdbench.leaderboard.render import rich_text

    tbl = table(collect(results, registry()))
    wide = rich_text(tbl, width=200)
    narrow = rich_text(tbl, width=80)
    assert max(len(ln) for ln in narrow.splitlines()) <= 80
    assert max(len(ln) for ln in wide.splitlines()) > 80  # it did need fitting
    assert "average AUC" in narrow and "95 % CI" in narrow and "92.00 ± 2.00" in wide
    assert "left out to fit 80 columns: pump pAUC, pump AUC" in " ".join(narrow.split())
    assert "left out" not in wide


def test_plain_format_is_aligned_text_without_box_characters(results, monkeypatch):
    use_plugins(monkeypatch)
    res = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--format",
                                                   "plain", "--table", "types"])
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert not set(text) & set("│┃━─┏┡└╇┼|")
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("rank"))
    rows = lines[header:header + 4]
    assert len(rows) == 4 and len({len(r) for r in rows}) == 1  # right-aligned last column
    assert rows[2].split()[:3] == ["=1", "os-scl", "logmel"]
    assert "92.00 ± 2.00" in rows[2]


# --- readable plots ----------------------------------------------------------------------------


def test_plot_labels_are_short_and_the_caption_says_the_rest(results, tmp_path):
    from asdbench.leaderboard.plots import short_labels

    labels, caption = short_labels(table(collect(results, registry())))
    assert labels == ["os-scl · logmel · fph_reduction=32", "os-scl · logmel",
                      "arcface · logmel"]
    assert caption == "backbone: mobilefacenet · scorer: ce · dataset: dcase2020"
    res = tmp_path / "r"
    write_run(res, {"fan": 0.9}, method="arcface", frontend="logmel",
              **{"method.margin": 0.4, "train.epochs": 3, "train.lr": 0.01})
    write_run(res, {"fan": 0.8}, method="arcface", frontend="tfstgram", **{"train.epochs": 3})
    refs = reference_frame([{"source": "P", "method": "arcface", "frontend": "logmel",
                             "dataset": "synthetic", "protocol": "dcase2020",
                             "metrics": {"average": {"auc": 0.85}}}])
    labels, caption = short_labels(table(collect(res, registry()), references=refs))
    # every setting differs from the published row's (none): the first row shows two of its
    # three, the caption gives them all
    assert labels == ["arcface · logmel · margin=0.4 · epochs=3 +1",
                      "arcface · logmel (published)", "arcface · tfstgram · epochs=3"]
    assert caption == ("backbone: mobilefacenet · scorer: ce · dataset: synthetic\n"
                       "arcface · logmel · margin=0.4 · epochs=3 +1: method.margin=0.4, "
                       "train.epochs=3, train.lr=0.01")


def test_plots_of_several_tracks_are_named_and_titled_by_track(tmp_path):
    from asdbench.leaderboard.plots import make_plots, plot_title

    res = tmp_path / "r"
    for seed in (0, 1):
        write_run(res, {"fan": 0.7, "pump": 0.75}, seed=seed, method="os-scl",
                  frontend="logmel", scores=True)
        write_run(res, {"fan": 0.9}, seed=seed, method="arcface", frontend="logmel",
                  scores=True, **{"data.types": "fan"})
    df = collect(res, registry())
    tbl = table(df)
    paths = make_plots(df, tbl, tmp_path / "plots")
    tracks = [t["track"].replace("·", "_") for t in tbl.attrs["tracks"]]
    names = {p.name for p in paths}
    assert {f"leaderboard_{t}_average.auc.png" for t in tracks} <= names
    assert {f"roc_{tracks[0]}_fan.png", f"roc_{tracks[0]}_pump.png",
            f"roc_{tracks[1]}_fan.png"} <= names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    from asdbench.leaderboard.render import by_track

    assert [plot_title(p) for p in by_track(tbl)] == [t["title"] for t in tbl.attrs["tracks"]]


# --- test sets apart -------------------------------------------------------------------------

@pytest.fixture
def set_results(tmp_path):
    """os-scl (seeds 0, 1) and arcface (seed 0) evaluated on dev and eval apart, where eval
    reverses the order; arcface seed 1 written before sets were kept apart (no ``sets``)."""
    res = tmp_path / "results"
    for seed, dev, ev in ((0, 0.90, 0.60), (1, 0.94, 0.62)):
        write_run(res, {"fan": dev}, seed=seed, method="os-scl", frontend="logmel",
                  dataset="dcase2020", sets={"dev": {"fan": dev}, "eval": {"fan": ev}})
    write_run(res, {"fan": 0.70}, seed=0, method="arcface", frontend="logmel",
              dataset="dcase2020", sets={"dev": {"fan": 0.70}, "eval": {"fan": 0.80}})
    write_run(res, {"fan": 0.74}, seed=1, method="arcface", frontend="logmel",
              dataset="dcase2020")  # old: its top-level protocols are its dev set's
    return res


def test_dev_and_eval_runs_are_never_ranked_in_one_table(set_results):
    df = collect(set_results, registry())
    assert sorted(df.loc[df["official"], "set"]) == ["dev"] * 4 + ["eval"] * 3
    tbl = table(df)
    infos = tbl.attrs["tracks"]
    assert [(t["set"], t["protocol"]) for t in infos] == [("dev", "dcase2020"),
                                                           ("eval", "dcase2020")]
    assert len({t["track"] for t in infos}) == 1  # one track (same data), two tables
    for info in infos:
        assert f"· set {info['set']} · protocol dcase2020" in info["title"]
        rows = tbl[(tbl["track"] == info["track"]) & (tbl["set"] == info["set"])]
        assert list(rows["rank"]) == [1, 2]
    dev, ev = tbl[tbl["set"] == "dev"], tbl[tbl["set"] == "eval"]
    assert list(dev["method"]) == ["os-scl", "arcface"]
    assert list(ev["method"]) == ["arcface", "os-scl"]  # eval's own ranking, not dev's
    assert dev["average.auc_mean"].tolist() == pytest.approx([0.92, 0.72])
    assert list(dev["n"]) == [2, 2]  # the old arcface run joins its recipe's dev row
    assert ev["average.auc_mean"].tolist() == pytest.approx([0.80, 0.61])
    assert list(ev["n"]) == [1, 2]


def test_an_old_run_without_sets_counts_as_the_development_set(tmp_path):
    """A run written before sets were kept apart has only top-level ``protocols``: those of
    the development set (``asdbench.metrics.sets.DEFAULT_SET``), unless its data settings
    put evaluation clips into its one evaluation (DCASE 2020 with ``data.eval_root``)."""
    from asdbench.data import DEFAULT_SET, DEV
    from asdbench.leaderboard import collect as collect_module

    assert collect_module.DEFAULT_SET == DEFAULT_SET == DEV == "dev"
    res = tmp_path / "r"
    write_run(res, {"fan": 0.8}, seed=0, dataset="dcase2020")
    write_run(res, {"fan": 0.6}, seed=1, dataset="dcase2020",
              **{"data.eval_root": "/data/dcase2020-eval"})
    df = collect(res, registry())
    by_seed = dict(zip(df.loc[df["official"], "seed"], df.loc[df["official"], "set"],
                       strict=True))
    assert by_seed == {0: "dev", 1: "dev+eval"}
    tbl = table(df)  # two tables (the folder given is a track of its own, too), one run each
    assert sorted(t["set"] for t in tbl.attrs["tracks"]) == ["dev", "dev+eval"]
    assert list(tbl["n"]) == [1, 1]


def test_test_set_option_keeps_one_set_and_titles_say_it(set_results, monkeypatch):
    import asdbench.plugins

    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = CliRunner().invoke(leaderboard_command, ["--results", str(set_results),
                                                   "--test-set", "eval", "--format", "csv"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.stdout))
    assert set(frame["set"]) == {"eval"} and list(frame["method"]) == ["arcface", "os-scl"]
    md = CliRunner().invoke(leaderboard_command, ["--results", str(set_results),
                                                  "--format", "markdown"])
    heads = [ln for ln in md.stdout.splitlines() if ln.startswith("### ")]
    assert len(heads) == 2 and "· set dev ·" in heads[0] and "· set eval ·" in heads[1]
    one = CliRunner().invoke(leaderboard_command, ["--results", str(set_results),
                                                   "--set-name", "dev", "--format", "plain"])
    assert one.exit_code == 0 and "set: dev" in one.stdout and "eval" not in one.stdout
    bad = CliRunner().invoke(leaderboard_command, ["--results", str(set_results),
                                                   "--test-set", "evaluation"])
    assert isinstance(bad.exception, AsdbenchError)
    assert str(bad.exception) == ("no finished run was evaluated on test set 'evaluation'; "
                                  "sets: dev, eval")


def test_published_rows_join_the_dev_table_only(set_results):
    refs = reference_frame([{"source": "paper", "table": "types", "method": "os-scl",
                             "frontend": "logmel", "dataset": "dcase2020",
                             "protocol": "dcase2020", "metrics": {"average": {"auc": 0.9}}}])
    tbl = table(collect(set_results, registry()), references=refs)
    published = tbl[tbl["source"] != MEASURED]
    assert list(published["set"]) == ["dev"]
    assert len(tbl[tbl["set"] == "eval"]) == 2


def test_plots_of_each_set_read_that_sets_clips_only(set_results, tmp_path):
    from asdbench.leaderboard.plots import make_plots, run_scores

    run = next(p for p in (set_results / "runs").iterdir() if p.name.startswith("os-scl")
               and "_s0_" in p.name)
    rows = [{"file": f"{s}_{k}.wav", "machine_type": "fan", "machine_id": "00", "domain": "",
             "label": k % 2, "score": float(k % 2 if s == "dev" else 1 - k % 2), "set": s}
            for s in ("dev", "eval") for k in range(10)]
    pd.DataFrame(rows).to_csv(run / "scores.csv", index=False)
    dev = run_scores(run, "dev")
    assert len(dev) == 10 and set(dev["file"].str[:3]) == {"dev"}
    assert len(run_scores(run)) == 20
    pd.DataFrame(rows).drop(columns="set").to_csv(run / "scores.csv", index=False)
    assert run_scores(run, "dev") is None  # two sets that the file does not tell apart
    pd.DataFrame(rows).to_csv(run / "scores.csv", index=False)
    df = collect(set_results, registry())
    names = {p.name for p in make_plots(df, table(df), tmp_path / "plots")}
    track = table(df).attrs["tracks"][0]["track"].replace("·", "_")
    assert {f"leaderboard_{track}_dev_average.auc.png", f"roc_{track}_eval_fan.png",
            f"scores_{run.name}_dev.png", f"scores_{run.name}_eval.png"} <= names


def test_peak_training_memory_is_a_cost_column(tmp_path):
    """A run's recorded ``train_peak_mb`` reaches the table as "train MB"; a run without one
    (written before it was recorded) shows none."""
    res = tmp_path / "res"
    with_peak = write_run(res, {"fan": 0.9}, method="arcface")
    write_run(res, {"fan": 0.8}, method="os-scl")
    path = with_peak / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "train_peak_mb": 1234.4,
                                "train_peak_measure": "process RSS (ru_maxrss)"}))
    text = render(table(collect(res, registry())), "markdown")
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {r[1]: r[header.index("train MB")]
             for r in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])}
    assert cells == {"arcface": "1234", "os-scl": "—"}
