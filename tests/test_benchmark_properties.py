"""bench/benchmark_properties.py against the committed benchmark runs and their reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.benchmark_properties import Row, average, main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
STATUS = RESULTS / "matrix" / "synthetic-benchmark" / "status.json"
READING = RESULTS / "leaderboard-synthetic-benchmark.md"


def test_a_paired_difference_is_the_difference_of_the_averages():
    ids = {"fan/00": "fan", "fan/01": "fan", "pump/00": "pump", "pump/01": "pump"}
    a = Row("a", {"fan/00": 0.9, "fan/01": 0.8, "pump/00": 0.7, "pump/01": 0.5}, ids, 1)
    b = Row("b", {"fan/00": 0.6, "fan/01": 0.7, "pump/00": 0.6, "pump/01": 0.6}, ids, 1)
    diff, half = average(a, b)
    assert diff == pytest.approx(100 * ((0.85 + 0.6) / 2 - (0.65 + 0.6) / 2))
    assert half > 0


@pytest.mark.skipif(not STATUS.exists(), reason="no committed benchmark runs")
def test_the_committed_section_is_what_the_script_prints(capsys):
    """Every table line of the (i)-(v) section is recomputed from the committed run folders."""
    assert main(["--results", str(RESULTS), "--matrix", str(STATUS)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    text = READING.read_text()
    missing = [line for line in printed if line not in text]
    assert not missing, f"{len(missing)} lines differ from {READING.name}, first: {missing[0]}"


def test_a_missing_results_folder_is_one_line(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "none"), "--matrix", str(STATUS)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'none'} does not exist"
