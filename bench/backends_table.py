"""The backend study's table: source and target AUC per method x backend from run folders.

Reads each run's own ``metrics.json`` and its ``eval/*/metrics.json`` (one per scorer, see
bench/scorer_sweep.py) under the DCASE 2022 protocol and prints, per row, the mean ± std
over seeds and, for the section-averaged AUCs, the leaderboard's 95 % jackknife half-width
over sections (:func:`asdbench.leaderboard.ranking.jackknife`); the official score,
one AUC pooling every section and domain (from ``scores.csv``) and the decisions' F1; then
how far the backend moves each method's target AUC.

    python bench/backends_table.py results/backends > table.md
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from asdbench.leaderboard.ranking import jackknife

PROTOCOL = "dcase2022"
METRICS = ("auc_target", "auc_source", "official", "pooled_auc", "f1")


def _backend(scorer: str, options: dict) -> str:
    shown = {k.removeprefix("scorer."): v for k, v in options.items() if k != "scorer"}
    return scorer + "".join(f" {k}={v}" for k, v in sorted(shown.items()))


def _method(cfg: dict) -> str:
    return cfg["method"] + (f" ({cfg['backbone']})" if cfg["backbone"] != "mobilefacenet" else "")


def records(results: Path) -> list[dict]:
    """One record per (run, scorer): its method, backend, seed and section values."""
    out = []
    for run in sorted((results / "runs").iterdir()):
        own = run / "metrics.json"
        if not own.is_file():
            continue
        files = [(own, None)] + [(p, p) for p in sorted(run.glob("eval/*/metrics.json"))]
        seen = set()
        for path, evaluated in files:
            m = json.loads(path.read_text())
            cfg = m["config"]
            if evaluated is None:
                backend = _backend(cfg["scorer"], {})
            elif "evaluated" not in m:  # eval/reference/: the reference's own run, not a scorer
                continue
            else:
                backend = _backend(m["evaluated"]["scorer"], m["evaluated"]["overrides"])
            if backend in seen:  # the run's own scorer evaluated again
                continue
            seen.add(backend)
            scores = pd.read_csv(path.parent / "scores.csv")
            for set_name, body in m["sets"].items():
                proto = body["protocols"].get(PROTOCOL)
                if proto is None:
                    continue
                mine = scores[scores["set"] == set_name]
                # one AUC over every section and domain at once: where normalisation matters
                average = {**proto["average"],
                           "pooled_auc": roc_auc_score(mine["label"], mine["score"])}
                out.append({"method": _method(cfg), "backend": backend, "seed": cfg["seed"],
                            "set": set_name, "average": average, "ids": proto["ids"]})
    return out


def _section_mean(units: list[dict], metric: str) -> float:
    """Mean over types of the mean over sections (the protocol's averaging)."""
    by_type: dict[str, list[float]] = {}
    for u in units:
        by_type.setdefault(u["type"], []).append(u[metric])
    return float(np.mean([np.mean(v) for v in by_type.values()]))


def row_stats(recs: list[dict], metric: str) -> tuple[float, float, float]:
    """Mean and std over seeds of ``metric``, and the jackknife half-width over sections
    (each section's value averaged over the seeds first)."""
    values = [r["average"][metric] for r in recs]
    if metric in ("official", "pooled_auc", "f1"):
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, \
            float("nan")
    sections: dict[str, list[float]] = {}
    for r in recs:
        for key, entry in r["ids"].items():
            if metric in entry:
                sections.setdefault(key, []).append(entry[metric])
    units = [{"type": k.split("/")[0], metric: float(np.mean(v))} for k, v in sorted(sections.items())]
    half = jackknife(units, lambda us: _section_mean(us, metric))[1]
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0), half


def table(recs: list[dict]) -> str:
    rows = ["| method | backend | seeds | target AUC % | source AUC % | official % "
            "| pooled AUC % | F1 % |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    moves = []
    key = lambda r: (r["set"], r["method"])  # noqa: E731
    for (set_name, method), group in itertools.groupby(sorted(recs, key=key), key=key):
        group = list(group)
        means = {}
        for backend in sorted({r["backend"] for r in group}):
            mine = [r for r in group if r["backend"] == backend]
            cells = []
            for metric in METRICS:
                mean, std, half = row_stats(mine, metric)
                ci = f" [±{100 * half:.1f}]" if half == half else ""
                cells.append(f"{100 * mean:.1f} ± {100 * std:.1f}{ci}")
            if "normalize=" not in backend:  # a per-section AUC it cannot change
                means[backend] = row_stats(mine, "auc_target")[0]
            rows.append(f"| {method} | {backend} | {len(mine)} | " + " | ".join(cells) + " |")
        t = np.array(list(means.values())) * 100
        pairs = [abs(a - b) for a, b in itertools.combinations(t, 2)]
        moves.append(f"| {method} ({set_name}) | {len(t)} | {t.max() - t.min():.1f} "
                     f"({max(means, key=means.get)} − {min(means, key=means.get)}) | "
                     f"{np.mean(pairs):.1f} |")
    return ("\n".join(rows) + "\n\nTarget-AUC move caused by the backend (points):\n\n"
            "| method | backends | largest (best − worst) | mean over backend pairs |\n"
            "|---|---:|---|---:|\n" + "\n".join(moves) + "\n")


def plot(recs: list[dict], path: Path) -> None:
    """Target AUC per backend (bars: mean over seeds, whiskers: seed std), one colour per
    method; source AUC as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({r["method"] for r in recs})
    backends = sorted({r["backend"] for r in recs})
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(backends)), 4.5))
    for i, method in enumerate(methods):
        xs, target, spread, source = [], [], [], []
        for j, backend in enumerate(backends):
            mine = [r for r in recs if r["method"] == method and r["backend"] == backend]
            if not mine:
                continue
            t = [100 * r["average"]["auc_target"] for r in mine]
            xs.append(j + (i - (len(methods) - 1) / 2) * width)
            target.append(np.mean(t))
            spread.append(np.std(t, ddof=1) if len(t) > 1 else 0.0)
            source.append(np.mean([100 * r["average"]["auc_source"] for r in mine]))
        ax.bar(xs, target, width, yerr=spread, capsize=2, label=f"{method}: target AUC")
        ax.plot(xs, source, "o", ms=4, color="k" if i == 0 else "grey",
                label=f"{method}: source AUC")
    ax.axhline(50, color="k", lw=0.5, ls=":")
    ax.set_xticks(range(len(backends)), backends, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("AUC % (mean over seeds, whiskers: seed std)")
    ax.set_title("synthetic-shift: target-domain AUC per scoring backend")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--plot", type=Path, help="also draw target AUC per backend here")
    args = parser.parse_args()
    recs = records(args.results)
    print(table(recs))
    if args.plot:
        plot(recs, args.plot)


if __name__ == "__main__":
    main()
