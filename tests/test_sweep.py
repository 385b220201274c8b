"""Sweep plots: average AUC per method against one swept setting (``--sweep KEY``), from
hand-made run folders whose numbers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_leaderboard import write_run

import asdbench.plugins
from asdbench.commands.leaderboard import leaderboard_command
from asdbench.leaderboard.collect import collect
from asdbench.leaderboard.sweep import matrix_sweeps, sweep_points
from asdbench.registry import AsdbenchError, Component, Registry

PNG = b"\x89PNG\r\n\x1a\n"
SIM = "data.id_similarity"
# (method, extra settings) -> id_similarity -> per seed: per-type AUC (fan, pump)
AUCS = {
    ("arcface", ()): {0.0: [(0.80, 0.70), (0.84, 0.74), (0.76, 0.66)],
                      0.5: [(0.70, 0.60), (0.66, 0.62)]},
    ("os-scl", ()): {0.0: [(0.90, 0.80), (0.92, 0.86)], 0.5: [(0.50, 0.52), (0.58, 0.50)],
                     0.8: [(0.40, 0.60)]},
    ("arcface", (("method.margin", 0.4),)): {0.0: [(0.60, 0.60)], 0.8: [(0.55, 0.65)]},
}


def registry() -> Registry:
    reg = Registry()
    none = lambda *a, **k: None  # noqa: E731
    reg.add("dataset", Component("synthetic", none, {"types": "fan,pump", "id_similarity": 0.0,
                                                     "difficulty": 1.0}))
    reg.add("frontend", Component("logmel", none, {"n_mels": 128}))
    reg.add("backbone", Component("mobilefacenet", none, {}))
    reg.add("method", Component("os-scl", none, {"margin": "auto", "fph_reduction": "auto"}))
    reg.add("method", Component("arcface", none, {"margin": 0.7}))
    reg.add("scorer", Component("ce", none, {}))
    return reg


def write_sweep(results: Path, sets: tuple[str, ...] = ()) -> None:
    """The runs of :data:`AUCS`; with ``sets``, each run evaluated on these sets apart (eval
    0.1 below dev)."""
    for (method, extra), by_value in AUCS.items():
        for value, seeds in by_value.items():
            for seed, (fan, pump) in enumerate(seeds):
                aucs = {"fan": fan, "pump": pump}
                per_set = ({s: {t: a - 0.1 * i for t, a in aucs.items()}
                            for i, s in enumerate(sets)} if sets else None)
                write_run(results, aucs, registry(), sets=per_set, seed=seed, method=method,
                          frontend="logmel", dataset="synthetic", **{SIM: value, **dict(extra)})


def by_hand(method: str, extra: tuple, value: float, minus: float = 0.0) -> tuple[float, float]:
    """Mean and std (ddof 1; NaN for one seed) over seeds of average AUC (the mean of the
    types' AUCs) of one line and value."""
    averages = [np.mean([fan, pump]) - minus for fan, pump in AUCS[(method, extra)][value]]
    return float(np.mean(averages)), (float(np.std(averages, ddof=1)) if len(averages) > 1
                                      else float("nan"))


def check_points(points: pd.DataFrame, minus: float = 0.0) -> None:
    """Every (line, value) of :data:`AUCS` is one point with the mean and std done by hand."""
    assert len(points) == sum(len(v) for v in AUCS.values())
    labels = {}
    for (method, extra), by_value in AUCS.items():
        rows = points[points["label"].str.startswith(method)
                      & (points["label"].str.contains("margin=0.4") == bool(extra))]
        assert sorted(rows["x"]) == sorted(by_value)
        labels[(method, extra)] = set(rows["label"])
        for value in by_value:
            got = rows[rows["x"] == value].iloc[0]
            mean, std = by_hand(method, extra, value, minus)
            assert got["mean"] == pytest.approx(mean)
            assert np.isnan(std) if np.isnan(got["std"]) else got["std"] == pytest.approx(std)
            assert got["n"] == len(by_value[value])
    assert all(len(v) == 1 for v in labels.values()) and len(set().union(*labels.values())) == 3


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = tmp_path / "results"
    write_sweep(res)
    return res


def test_sweep_points_are_the_means_over_seeds_done_by_hand(results):
    points = sweep_points(collect(results, registry()), SIM)
    check_points(points)
    assert set(points["protocol"]) == {"dcase2020"}  # each run's official protocol
    assert points.attrs["numeric"] and points.attrs["key"] == SIM
    pooled = sweep_points(collect(results, registry()), SIM, protocol="pooled")
    check_points(pooled, minus=-0.01)  # write_run: pooled is 0.01 above dcase2020


def test_command_writes_the_sweep_plot_and_its_values(results, tmp_path):
    plots = tmp_path / "plots"
    out = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--sweep", SIM,
                                                   "--plots", str(plots), "--format", "plain"])
    assert out.exit_code == 0, out.output
    png = plots / f"leaderboard_sweep_{SIM}.png"
    assert png.read_bytes()[:8] == PNG
    values = pd.read_csv(plots / f"leaderboard_sweep_{SIM}.csv")
    check_points(values.rename(columns={SIM: "x"}))
    assert "1 sweep(s)" in out.stderr


def test_dev_and_eval_get_a_sweep_plot_each(tmp_path, monkeypatch):
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = tmp_path / "results"
    write_sweep(res, sets=("dev", "eval"))
    df = collect(res, registry())
    points = sweep_points(df, SIM)
    check_points(points[points["set"] == "dev"])
    check_points(points[points["set"] == "eval"], minus=0.1)
    check_points(sweep_points(df, SIM, test_set="eval"), minus=0.1)
    plots = tmp_path / "plots"
    out = CliRunner().invoke(leaderboard_command, ["--results", str(res), "--sweep", SIM,
                                                   "--plots", str(plots)])
    assert out.exit_code == 0, out.output
    names = {p.name for p in plots.glob("leaderboard_sweep_*.png")}
    assert names == {f"leaderboard_sweep_{SIM}_synthetic_{s}_dcase2020.png"
                     for s in ("dev", "eval")}


def test_a_bad_sweep_key_is_a_one_line_error_naming_it(results, tmp_path):
    plots = tmp_path / "plots"
    out = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--sweep",
                                                   "data.id_similarty", "--plots", str(plots)])
    assert isinstance(out.exception, AsdbenchError)
    message = str(out.exception)
    assert "\n" not in message and message.startswith("--sweep data.id_similarty: ")
    assert f"did you mean '{SIM}'" in message and "differ between the runs: " + SIM in message
    assert out.stdout == "" and not plots.exists()  # fails before any output
    same = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--sweep",
                                                    "data.difficulty", "--plots", str(plots)])
    assert str(same.exception) == ("--sweep data.difficulty: every run here has "
                                   "data.difficulty=1; a sweep needs runs with two values or "
                                   "more")
    alone = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--sweep", SIM])
    assert str(alone.exception) == "--sweep draws a plot: give --plots DIR too"


def test_a_matrix_that_varies_a_data_setting_gets_its_sweep_by_default(results, tmp_path):
    matrix = tmp_path / "m.toml"
    matrix.write_text('name = "m"\n[axes]\n"data.id_similarity" = [0.0, 0.5]\n'
                      'method = ["arcface", "os-scl"]\nseed = [0, 1]\n[settings]\n'
                      'frontend = "logmel"\ndataset = "synthetic"\n')
    assert matrix_sweeps(matrix) == [SIM]  # method and seed are not data settings
    plots = tmp_path / "plots"
    out = CliRunner().invoke(leaderboard_command, ["--results", str(results), "--matrix",
                                                   str(matrix), "--plots", str(plots)])
    assert out.exit_code == 0, out.output
    values = pd.read_csv(plots / f"leaderboard_sweep_{SIM}.csv")
    # the matrix's cells only: seeds 0 and 1 of the default-margin lines at 0.0 and 0.5
    assert sorted(zip(values["label"].str.split(" ").str[0], values[SIM], values["n"],
                      strict=True)) == [("arcface", 0.0, 2), ("arcface", 0.5, 2),
                                        ("os-scl", 0.0, 2), ("os-scl", 0.5, 2)]


def test_a_non_data_setting_sweeps_too_numbers_first_then_words(tmp_path):
    res = tmp_path / "r"
    for seed, (reduction, auc) in enumerate((("none", 0.9), (32, 0.7), (4, 0.6))):
        write_run(res, {"fan": auc}, registry(), seed=seed, method="os-scl",
                  frontend="logmel", dataset="synthetic", **{"method.fph_reduction": reduction})
    points = sweep_points(collect(res, registry()), "method.fph_reduction")
    assert not points.attrs["numeric"]
    assert list(zip(points["value"], points["x"], strict=True)) == [("4", 0.0), ("32", 1.0),
                                                                    ("none", 2.0)]
    assert points["mean"].tolist() == pytest.approx([0.6, 0.7, 0.9])
    assert points["label"].nunique() == 1  # one line: the swept key is not in its label
