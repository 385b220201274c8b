"""bench/publish_matrix.py: a matrix's runs copied without checkpoints, earlier runs dropped."""

from __future__ import annotations

import json
from pathlib import Path

from bench.publish_matrix import main

MATRIX = Path(__file__).resolve().parents[1] / "configs" / "quick.toml"


def fake_source(tmp_path: Path) -> tuple[Path, list[str]]:
    """A results folder where the quick matrix ran: each run with a checkpoint and an eval/."""
    from asdbench.leaderboard.collect import matrix_run_ids
    from asdbench.plugins import get_registry

    ids = sorted(matrix_run_ids(MATRIX, get_registry()))
    source = tmp_path / "ran"
    for run_id in ids:
        run = source / "runs" / run_id
        (run / "eval" / "reference").mkdir(parents=True)
        (run / "metrics.json").write_text("{}")
        (run / "model.safetensors").write_bytes(b"x")
        (run / "state.pt").write_bytes(b"x")
        (run / "eval" / "reference" / "metrics.json").write_text("{}")
        (run / "eval" / "reference" / "train_embeddings.safetensors").write_bytes(b"x")
    (source / "matrix" / "quick" / "logs").mkdir(parents=True)
    (source / "matrix" / "quick" / "status.json").write_text(json.dumps({"done": ids}))
    return source, ids


def test_runs_are_copied_without_checkpoints_and_old_runs_dropped(tmp_path, capsys):
    source, ids = fake_source(tmp_path)
    into = tmp_path / "results"
    for old in ("old_a", ids[0]):  # a run of the earlier matrix; one id both have is kept
        (into / "runs" / old).mkdir(parents=True)
    (into / "runs" / "other").mkdir()  # another matrix's run: untouched
    status = tmp_path / "old-status.json"
    status.write_text(json.dumps({"done": ["old_a"], "skipped": [ids[0]]}))
    assert main(["--source", str(source), "--matrix", str(MATRIX), "--into", str(into),
                 "--drop", str(status)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"copied {len(ids)} runs, deleted 1 earlier runs, 0 cells unfinished")
    assert sorted(p.name for p in (into / "runs").iterdir()) == sorted([*ids, "other"])
    files = {p.relative_to(into / "runs" / ids[0]).as_posix()
             for p in (into / "runs" / ids[0]).rglob("*") if p.is_file()}
    assert files == {"metrics.json", "eval/reference/metrics.json"}
    assert (into / "matrix" / "quick" / "status.json").exists()


def test_an_unfinished_cell_is_refused_unless_partial(tmp_path, capsys):
    source, ids = fake_source(tmp_path)
    (source / "claims").mkdir()
    (source / "claims" / f"{ids[1]}.claim").write_text("{}")  # still scoring
    into = tmp_path / "results"
    into.mkdir()
    args = ["--source", str(source), "--matrix", str(MATRIX), "--into", str(into)]
    assert main(args) == 2
    assert "1 of 4 cells" in capsys.readouterr().err
    assert main([*args, "--partial"]) == 0
    assert not (into / "runs" / ids[1]).exists()
