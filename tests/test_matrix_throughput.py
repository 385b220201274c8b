"""bench.matrix_throughput: the arithmetic of cells per GPU-hour, and its refusal without a GPU."""


import pytest

from bench import matrix_throughput as mt


def epoch(clips_per_s: float, train_s: float, wall_s: float) -> dict:
    return {"clips_per_s": clips_per_s, "epoch_time_s": train_s, "epoch_wall_s": wall_s}


def test_a_cells_paper_hours_scale_its_steady_epochs_like_bench_schedule():
    # the first epoch (warm-up, compilation) is left out; 950 clips/s train 41,000 x 0.95
    # clips in 41 s; 1 s of validation for 2,000 clips is 20.5 s for 41,000
    log = [epoch(10.0, 100.0, 130.0), epoch(950.0, 2.0, 3.0), epoch(950.0, 2.0, 3.0)]
    assert mt.paper_cell_hours(log, n_train=1900, n_val=100) == pytest.approx(
        300 * (41.0 + 20.5) / 3600)
    assert mt.paper_cell_hours(log[:1], 1900, 100) == pytest.approx(  # one epoch: it counts
        300 * (41_000 * 0.95 / 10.0 + 30.0 * 41_000 / 2000) / 3600)


def test_cells_per_gpu_hour_adds_the_rates_of_cells_running_side_by_side():
    rows = [mt.throughput_row(1, [2.0]),  # one cell alone: 2 h -> 0.5 cells per GPU-hour
            mt.throughput_row(2, [4.0, 4.0]),  # two share it and each takes twice as long
            mt.throughput_row(4, [5.0, 5.0, 5.0, 4.0])]
    mt.add_speedups(rows)
    assert [r["cells_per_gpu_hour"] for r in rows] == pytest.approx([0.5, 0.5, 0.85])
    assert [r["speedup_vs_1"] for r in rows] == pytest.approx([1.0, 1.0, 1.7])
    assert [r["cell_hours_median"] for r in rows] == [2.0, 4.0, 5.0]
    assert mt.throughput_row(2, [4.0, 4.0], gpus=2)["cells_per_gpu_hour"] == 0.25


def test_speedups_need_a_measurement_of_one_cell_per_gpu():
    rows = [mt.throughput_row(2, [4.0, 4.0])]
    mt.add_speedups(rows)
    assert rows[0]["speedup_vs_1"] is None


def test_the_matrix_of_one_measurement_is_n_seeds_of_the_paper_model(tmp_path):
    class Args:
        train_per_id, epochs, frontend = None, None, "tfstgram"

    config = mt.matrix_config(4, tmp_path, quick=False, args=Args)
    assert config["axes"] == {"seed": [0, 1, 2, 3]}
    s = config["settings"]
    assert (s["data.types"], s["data.ids_per_type"], s["data.train_per_id"]) == (
        "fan,pump,gearbox,valve", 10, 50)
    assert (s["data.clip_seconds"], s["train.batch_size"], s["method"]) == (10.0, 64, "os-scl")
    assert s["data.root"] == str(tmp_path / "data")  # every N shares one generated set


def test_without_a_gpu_it_says_so_in_one_line_exits_2_and_writes_nothing(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mt, "has_gpu", lambda: False)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        mt.main(["--quick", "--out", str(out), "--work", str(tmp_path / "work")])
    assert exit_.value.code == mt.NO_GPU_EXIT == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["bench.matrix_throughput needs a CUDA GPU and none is visible; "
                     "nothing measured or written"]
    assert not out.exists() and not (tmp_path / "work").exists()
