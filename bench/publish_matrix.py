"""Publish a matrix's finished runs into the committed results folder, without checkpoints.

Copies each cell's run folder (``runs/<run id>/``, its ``eval/`` folders included) from where
the matrix ran into ``--into``, leaving out what ``.gitignore`` keeps out of the repository
(``*.pt``, ``*.safetensors``, ``*.npy``), and replaces ``matrix/<name>/``. ``--drop`` names a
``status.json`` of the matrix's earlier runs: those run folders are deleted first (a re-run
on another test set has new run ids, so the old folders would otherwise stay as rows).

    python bench/publish_matrix.py --source /work/rerun-results \\
        --matrix configs/synthetic-benchmark.toml --into results \\
        --drop results/matrix/synthetic-benchmark/status.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from asdbench.leaderboard.collect import matrix_run_ids
from asdbench.matrix.grid import load_matrix
from asdbench.registry import AsdbenchError

NOT_PUBLISHED = ("*.pt", "*.safetensors", "*.npy")  # as .gitignore


def listed_runs(status: Path) -> set[str]:
    """Return the run ids a matrix's ``status.json`` lists as done or skipped (finished)."""
    data = json.loads(status.read_text())
    return set(data.get("done", [])) | set(data.get("skipped", []))


def publish(source: Path, matrix: Path, into: Path, drop: list[Path],
            partial: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Copy the matrix's finished runs and its folder; (copied, missing, deleted) run ids."""
    from asdbench.plugins import get_registry

    name = load_matrix(matrix)["name"]
    ids = sorted(matrix_run_ids(matrix, get_registry()))
    # finished: its metrics written and no matrix process holding the cell (whose scorers and
    # reference may still be writing eval/)
    missing = [i for i in ids if not (source / "runs" / i / "metrics.json").exists()
               or (source / "claims" / f"{i}.claim").exists()]
    if missing and not partial:
        raise AsdbenchError(f"{source}: {len(missing)} of {len(ids)} cells of {matrix} are not "
                            f"finished (first: {missing[0]}); finish the matrix or pass --partial")
    old = sorted(set().union(*(listed_runs(p) for p in drop)) - set(ids)) if drop else []
    for run_id in old:
        shutil.rmtree(into / "runs" / run_id, ignore_errors=True)
    copied = [i for i in ids if i not in missing]
    for run_id in copied:
        target = into / "runs" / run_id
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source / "runs" / run_id, target,
                        ignore=shutil.ignore_patterns(*NOT_PUBLISHED))
    folder = source / "matrix" / name
    if folder.is_dir():
        shutil.rmtree(into / "matrix" / name, ignore_errors=True)
        shutil.copytree(folder, into / "matrix" / name)
    return copied, missing, old


def main(argv: list[str] | None = None) -> int:
    """Publish; one line per count, a one-line error for a bad path or unfinished cells."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="results folder it ran in")
    parser.add_argument("--matrix", type=Path, required=True, help="the matrix config (.toml)")
    parser.add_argument("--into", type=Path, default=Path("results"))
    parser.add_argument("--drop", type=Path, action="append", default=[],
                        help="status.json of earlier runs to delete (repeatable)")
    parser.add_argument("--partial", action="store_true", help="copy the finished cells only")
    args = parser.parse_args(argv)
    for path in (args.source, args.matrix, args.into, *args.drop):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        copied, missing, old = publish(args.source, args.matrix, args.into, args.drop,
                                       args.partial)
    except AsdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"copied {len(copied)} runs, deleted {len(old)} earlier runs, "
          f"{len(missing)} cells unfinished" + (f": {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
