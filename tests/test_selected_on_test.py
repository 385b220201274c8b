"""Runs that choose their checkpoint on test labels (``train.select = "test"``, e.g. recipe
``authors-test-selected``) are marked "selected on test" in every table and the report, and
never share a ranking with runs selected without test labels."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner
from test_leaderboard import registry, write_run

import asdbench.plugins
from asdbench.commands.report import report_command
from asdbench.config import resolve
from asdbench.leaderboard.collect import SELECTED_ON_TEST, collect, reference_frame
from asdbench.leaderboard.render import render
from asdbench.leaderboard.tables import table
from asdbench.plugins import get_registry

MARK = "selected on test"


@pytest.fixture
def results(tmp_path, monkeypatch):
    """arcface selected on validation (2 seeds) and on test (1 seed, better numbers)."""
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = tmp_path / "results"
    for seed in (0, 1):
        write_run(res, {"fan": 0.80, "pump": 0.70}, seed=seed, method="arcface",
                  frontend="logmel", dataset="dcase2020")
    write_run(res, {"fan": 0.95, "pump": 0.90}, seed=0, method="arcface", frontend="logmel",
              dataset="dcase2020", **{"train.select": "test", "train.select_every": 10})
    return res


def test_test_selected_rows_form_their_own_track_and_ranking(results):
    data = collect(results, registry())
    tracks = sorted(set(data["track"]))
    assert len(tracks) == 2 and sum(t.endswith(SELECTED_ON_TEST) for t in tracks) == 1
    marked = data[data["track"].str.endswith(SELECTED_ON_TEST)]
    assert len(marked) and marked["note"].str.startswith(MARK).all()
    assert not data[~data["track"].str.endswith(SELECTED_ON_TEST)]["note"].str.contains(
        MARK).any()
    tbl = table(data)
    for _, part in tbl.groupby("track"):  # each ranking holds one kind of selection only
        assert part["track"].str.endswith(SELECTED_ON_TEST).nunique() == 1


def test_the_mark_is_in_markdown_csv_and_the_report(results, tmp_path):
    tbl = table(collect(results, registry()))
    markdown = render(tbl, "markdown")
    assert MARK in markdown and SELECTED_ON_TEST in markdown
    assert markdown.count(MARK) == 1  # the other table carries no mark
    back = pd.read_csv(io.StringIO(render(tbl, "csv")), keep_default_na=False)
    flagged = back[back["track"].str.endswith(SELECTED_ON_TEST)]
    assert len(flagged) == 1 and flagged["average.auc_mean"].iloc[0] == pytest.approx(0.925)
    out = CliRunner().invoke(report_command, ["--results", str(results)])
    assert out.exit_code == 0, out.output
    page = out.output.split("wrote ", 1)[1].split(" (", 1)[0]
    html = open(page, encoding="utf-8").read()
    assert MARK in html and SELECTED_ON_TEST in html


def test_published_rows_never_join_a_test_selected_track(results):
    data = collect(results, registry())
    refs = reference_frame([{"method": "arcface", "frontend": "logmel", "dataset": "dcase2020",
                             "protocol": "dcase2020", "types": {"fan": {"auc": 0.9}},
                             "average": {"auc": 0.9}}])
    from asdbench.leaderboard.tracks import place_references

    placed, _ = place_references(refs, data)
    assert len(placed) and not placed["track"].str.endswith(SELECTED_ON_TEST).any()


def test_only_the_named_variant_selects_on_test():
    reg = get_registry()
    authors = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors"}, reg)
    chosen = resolve({"method": "arcface", "frontend": "stgram",
                      "recipe": "authors-test-selected"}, reg)
    assert authors["train.select"] == "last" and resolve({}, reg)["train.select"] == "val_ce"
    assert (chosen["train.select"], chosen["train.select_every"]) == ("test", 10)
    assert chosen.run_id != authors.run_id
    same = {k: v for k, v in chosen.items() if k not in ("recipe", "train.select",
                                                          "train.select_every")}
    assert same == {k: v for k, v in authors.items() if k not in (
        "recipe", "train.select", "train.select_every")}
