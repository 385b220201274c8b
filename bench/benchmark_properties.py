"""Print the synthetic benchmark's properties (i)-(v) of issue 25 as markdown tables.

Every difference is paired: both rows scored the same test clips, so it is taken per machine
ID (each row's seeds averaged per ID first), and its 95 % interval is the leaderboard's
jackknife over the IDs (:mod:`asdbench.leaderboard.ranking`), the code behind the
leaderboard's "95 % CI" column. (v) is Kendall's tau (``scipy.stats.kendalltau``) between the
paper's Table II average AUCs and the benchmark's rows nearest to those systems.

    python bench/benchmark_properties.py --results results \\
        --matrix configs/synthetic-benchmark.toml

``--matrix`` also takes a matrix's ``status.json`` (the run ids it lists as done or skipped):
runs written by older code, whose ids today's code would compute differently.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from asdbench.leaderboard.collect import collect, matrix_run_ids
from asdbench.leaderboard.ranking import jackknife, statistic_of
from asdbench.registry import AsdbenchError

# The ID classifiers, scored by their own score (CE of the own ID, or kmeans-domain for the
# AdaCos family), in the order of the tables.
CLASSIFIERS = ("arcface", "noisy-arcmix", "os-scl", "clp-scf", "softmax", "adacos",
               "subcluster-adacos", "adaproj")
REFERENCE = "reference"
BASELINES = {"dcase2020-ae": "DCASE 2020 AE", "idnn": "IDNN", "glow-aff": "Glow-Aff"}
EMBEDDINGS = "mahalanobis"  # the scorer of a classifier's embeddings scored per ID
# (system, its average AUC in %, the benchmark row nearest to it): Huang et al., "OS-SCL",
# ICASSP 2025, Table II (DCASE 2020 development set; the paper's text, Table II rows).
TABLE2 = (
    ("IDNN", 76.96, "idnn"),
    ("MobileNetV2", 84.34, "softmax"),
    ("Glow_Aff", 85.20, "glow-aff"),
    ("STgram-MFN (ArcFace)", 91.73, "arcface"),
    ("CLP-SCF", 93.75, "clp-scf"),
    ("TASTgram (Noisy-ArcMix)", 94.08, "noisy-arcmix"),
    ("Log-Mel (OS-SCL)", 94.64, "os-scl"),
)
AUC = ".auc"


@dataclass
class Row:
    """Hold one leaderboard row: its per-ID AUCs (seeds averaged), each ID's type, its runs."""

    name: str
    per_id: dict[str, float]
    types: dict[str, str]
    n: int

    def units(self, minus: Row | None = None) -> list:
        """Return the jackknife units (machine type, {"auc": [value]}) per ID, less ``minus``'s."""
        ids = sorted(self.per_id if minus is None else self.per_id.keys() & minus.per_id)
        return [(self.types[i], {"auc": [self.per_id[i] - (minus.per_id[i] if minus else 0.0)]})
                for i in ids]


def run_ids(matrix: Path) -> set[str]:
    """Return the run ids of a matrix config, or those a matrix's ``status.json`` lists."""
    if matrix.name == "status.json":
        status = json.loads(matrix.read_text())
        return set(status.get("done", [])) | set(status.get("skipped", []))
    from asdbench.plugins import get_registry

    return matrix_run_ids(matrix, get_registry())


def row_name(method: str, scorer: str) -> str:
    """Name a row: its method, with ``(embeddings)`` when a classifier is scored per ID."""
    if method == "gaussian":
        return REFERENCE
    return f"{method} (embeddings)" if scorer == EMBEDDINGS else method


def load_rows(results: Path, matrix: Path, protocol: str | None) -> dict[str, Row]:
    """Read the matrix's rows of one protocol (each row's official one by default), by name; the
    reference's re-scorings of each run (``eval/reference``) are left out: the matrix's own
    reference row scores the same clips."""
    from asdbench.plugins import get_registry

    df = collect(results, get_registry, cost=False)
    if df.empty:
        raise AsdbenchError(f"{results}: no finished runs; give the results folder of the matrix")
    df = df[df["run_id"].isin(run_ids(matrix)) & (df["rescored"] != REFERENCE)]
    df = df[df["official"]] if protocol is None else df[df["protocol"] == protocol]
    if df.empty:
        raise AsdbenchError(f"{results}: no runs of {matrix} with protocol "
                            f"{protocol or 'official'}; run the matrix first")
    if df["track"].nunique() > 1:
        raise AsdbenchError(f"{matrix}: its runs are of {df['track'].nunique()} tracks (data "
                            "settings); this script compares rows of one track")
    columns = [c for c in df.columns if "/" in c and c.endswith(AUC)]
    rows: dict[str, Row] = {}
    for (method, scorer), group in df.groupby(["method", "scorer"], sort=False):
        name = row_name(method, scorer)
        if name in rows:
            raise AsdbenchError(f"{matrix}: two rows named {name}; one recipe per method and "
                                "scorer is expected")
        means = group[columns].mean()
        per_id = {c[:-len(AUC)]: float(v) for c, v in means.items() if v == v}
        rows[name] = Row(name, per_id, {i: i.split("/")[0] for i in per_id}, len(group))
    return rows


def average(row: Row, minus: Row | None = None) -> tuple[float, float]:
    """Return the average AUC in points (types' mean of IDs' mean) and its 95 % half-width."""
    units = row.units(minus)
    full = statistic_of("auc")(units)
    return 100 * full, 100 * jackknife(units, statistic_of("auc"))[1]


def signed(value: float, half: float | None = None) -> str:
    """Format ``+1.2 ± 3.4`` with a true minus sign."""
    text = f"{value:+.1f}".replace("-", "−")
    return text if half is None or math.isnan(half) else f"{text} ± {half:.1f}"


def difference_table(rows: dict[str, Row]) -> list[str]:
    """Tabulate (i), (ii) and (iv): each classifier minus the baselines and the reference."""
    cls = [c for c in CLASSIFIERS if c in rows]
    heads = [c if c != "softmax" else "softmax (MobileNetV2)" for c in cls]
    out = ["| difference (points, ± 95 % half-width) | " + " | ".join(heads) + " |",
           "|---|" + "---:|" * len(cls)]
    against = [("(i)", b) for b in ("dcase2020-ae",)] + [("(ii)", b) for b in ("idnn", "glow-aff")]
    against += [("(iv)", REFERENCE)]
    for tag, other in against:
        if other not in rows:
            continue
        label = BASELINES.get(other, other)
        cells = [signed(*average(rows[c], rows[other])) for c in cls]
        out.append(f"| {tag} classifier − {label} | " + " | ".join(cells) + " |")
    return out


def embedding_table(rows: dict[str, Row]) -> list[str]:
    """Tabulate (iii): each classifier's embeddings scored per ID, less its own score and the
    reference."""
    cls = [c for c in CLASSIFIERS if f"{c} (embeddings)" in rows and c in rows]
    if not cls:
        return []
    out = [f"| (iii) the same network's embeddings scored per ID (`{EMBEDDINGS}`) | "
           + " | ".join(cls) + " |", "|---|" + "---:|" * len(cls),
           "| embeddings − own score | "
           + " | ".join(signed(*average(rows[f"{c} (embeddings)"], rows[c])) for c in cls) + " |"]
    if REFERENCE in rows:
        out.append("| embeddings − reference (iv) | " + " | ".join(
            signed(*average(rows[f"{c} (embeddings)"], rows[REFERENCE])) for c in cls) + " |")
    return out


def averages_table(rows: dict[str, Row]) -> list[str]:
    """Tabulate every row's average AUC with its 95 % interval, and its AUC per machine type."""
    types = sorted({t for r in rows.values() for t in r.types.values()})
    out = ["| row | runs | average AUC | 95 % half-width | " + " | ".join(types) + " |",
           "|---|---:|---:|---:|" + "---:|" * len(types)]
    ordered = sorted(rows.values(), key=lambda r: -average(r)[0])
    for row in ordered:
        mean, half = average(row)
        per_type = [100 * np.mean([v for i, v in row.per_id.items() if row.types[i] == t])
                    for t in types]
        out.append(f"| {row.name} | {row.n} | {mean:.1f} | {half:.1f} | "
                   + " | ".join(f"{v:.1f}" for v in per_type) + " |")
    groups = [("classifiers, own score", [rows[c] for c in CLASSIFIERS if c in rows]),
              ("classifiers, embeddings", [r for n, r in rows.items() if n.endswith("(embeddings)")])]
    for label, members in groups:
        if members:
            per_type = [100 * np.mean([v for r in members for i, v in r.per_id.items()
                                       if r.types[i] == t]) for t in types]
            out.append(f"| mean of the {label} ({len(members)} rows) |  |  |  | "
                       + " | ".join(f"{v:.1f}" for v in per_type) + " |")
    return out


def kendall_table(rows: dict[str, Row]) -> list[str]:
    """Tabulate (v): the paper's Table II systems against the benchmark's nearest rows, and tau."""
    pairs = [(s, paper, name, average(rows[name])[0]) for s, paper, name in TABLE2
             if name in rows]
    out = ["| Table II system | paper | synthetic (row used) |", "|---|---:|---:|"]
    out += [f"| {s} | {paper:.2f} | {ours:.1f} ({name}) |" for s, paper, name, ours in pairs]
    if len(pairs) >= 3:
        tau, p = kendalltau([p[1] for p in pairs], [p[3] for p in pairs])
        out += ["", f"Kendall's tau over these {len(pairs)} systems: **τ = {tau:.2f}, "
                f"p = {p:.2f}**".replace("τ = -", "τ = −")]
    return out


def report(rows: dict[str, Row]) -> str:
    """Join the section's tables as markdown."""
    parts = [difference_table(rows), embedding_table(rows), averages_table(rows),
             kendall_table(rows)]
    return "\n\n".join("\n".join(p) for p in parts if p) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the tables; a one-line error for a missing folder or an empty matrix."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--matrix", type=Path, required=True,
                        help="matrix config (.toml) or its status.json")
    parser.add_argument("--protocol", default=None,
                        help="metric protocol (default: each run's official one)")
    args = parser.parse_args(argv)
    for path in (args.results, args.matrix):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        rows = load_rows(args.results, args.matrix, args.protocol)
    except AsdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
