"""Average AUC (DCASE 2020 official protocol) against data.id_similarity per method, from the
run folders of configs/id-similarity.toml: python results/plots/id-similarity/plot_sweep.py"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from asdbench.config import resolve  # noqa: E402
from asdbench.matrix.grid import expand, load_matrix  # noqa: E402
from asdbench.plugins import get_registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent


def main() -> None:
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    registry = get_registry()
    for cell in expand(load_matrix(ROOT / "configs" / "id-similarity.toml")):
        metrics = ROOT / "results" / "runs" / resolve(cell, registry).run_id / "metrics.json"
        if not metrics.exists():
            continue
        m = json.loads(metrics.read_text())
        cfg = m["config"]
        auc = m["protocols"]["dcase2020"]["average"]["auc"]
        points[cfg["method"]].append((cfg["data.id_similarity"], 100 * auc))
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, xy in sorted(points.items()):
        xs, ys = zip(*sorted(xy), strict=True)
        ax.plot(xs, ys, marker="o", label=method)
    ax.set_xlabel("data.id_similarity (0: IDs as built, 1: identical)")
    ax.set_ylabel("average AUC % (DCASE 2020 official)")
    ax.set_title("synthetic: ID similarity sweep (log-Mel, seed 0)")
    ax.axhline(50, color="grey", lw=0.5)
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "auc_vs_id_similarity.png", dpi=120)
    print(json.dumps({k: sorted(v) for k, v in points.items()}))


if __name__ == "__main__":
    main()
