"""Score trained runs with several scorers, embedding each run's test split once.

Each scorer's results are what ``asdbench eval --run RUN --scorer NAME [--set scorer.K=V]``
writes (``RUN/eval/<scorer>[-<hash>]/``), so ``asdbench leaderboard`` shows one row per
scorer. The test split is decoded and embedded once per run instead of once per scorer;
the seconds of each step go to a JSON file (the backend study, issue 27:
results/backends-study.md).

    python bench/scorer_sweep.py --out results/bench/scorer-sweep.json RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path

# Every backend of the study: (scorer, its options).
BACKENDS: list[tuple[str, dict]] = [
    ("ce", {}), ("cosine", {}), ("mahalanobis", {}), ("knn", {}), ("knn-domain", {}),
    ("kmeans-domain", {}), ("knn-so-ta", {}), ("knn-smote", {}), ("knn-rescale", {}),
    ("genrep", {}), ("genrep", {"domain_stats": "test"}),
    ("knn-so-ta", {"normalize": "zscore"}), ("knn-so-ta", {"normalize": "quantile"}),
]


def sweep(run_dirs: list[Path], backends: list[tuple[str, dict]]) -> list[dict]:
    """Evaluate every run with every backend; the seconds of each evaluation."""
    from asdbench.run import service

    cache: dict = {}

    def once(fn, key):  # the split and its embedding, kept for the run being swept
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            k = key(*args)
            if k not in cache:
                cache[k] = fn(*args, **kwargs)
            return cache[k]
        return wrapped

    service._test_split = once(service._test_split, lambda run, ds, name, *a: (
        "split", str(run.folder.path), name))
    service.embed_split = once(service.embed_split, lambda model, split, *a: ("embed", id(split)))
    records = []
    for run_dir in run_dirs:
        for name, options in backends:
            if name == "ce" and "gaussian" in run_dir.name:
                continue  # the non-learned reference has no class logits
            overrides = {"scorer": name, **{f"scorer.{k}": v for k, v in options.items()}}
            start = time.perf_counter()
            metrics = service.evaluate_run(run_dir, overrides, device="cpu", progress=False)
            records.append({"run": run_dir.name, "scorer": name, "options": options,
                            "seconds": round(time.perf_counter() - start, 3),
                            "eval_dir": metrics["eval_dir"]})
            print(json.dumps(records[-1]), flush=True)
        cache.clear()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = sweep(args.runs, BACKENDS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    args.out.write_text(json.dumps({"load_average_end": load, "records": records}, indent=1))


if __name__ == "__main__":
    main()
