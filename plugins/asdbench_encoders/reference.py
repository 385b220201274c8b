"""Published results of pretrained-encoder systems on DCASE 2023 and 2024 Task 2 evaluation
sets, as leaderboard reference rows (``asdbench leaderboard --reference paper``).

Each number is the edition's official score (harmonic mean of the source AUC, target AUC
and pAUC over every machine type and section), a fraction in [0, 1], on the evaluation set.
A component the source does not name (its head, its scoring backend) is ``-``.
The values are those quoted in issue 29 from each source; ``trials`` is how many trainings
the published mean is over (1: a single figure). NOTES.md lists every source.
"""

from __future__ import annotations

PROTOCOL = "dcase2022"  # the official score of the 2022-2025 editions
TABLE = "types"

# (dataset, label, method, frontend, backbone, scorer, settings, score %, ± %, trials, source)
_ROWS = (
    ("dcase2023", "official AE baseline, Mahalanobis", "dcase-ae", "logmel", "frames",
     "method", {}, 61.05, None, 1, "DCASE 2023 Task 2 official baseline"),
    ("dcase2023", "official AE baseline, MSE", "dcase-ae", "logmel", "frames", "method", {},
     59.25, None, 1, "DCASE 2023 Task 2 official baseline"),
    ("dcase2023", "GenRep: frozen BEATs + kNN, domain-normalised", "gaussian", "beats", "pool",
     "knn-domain", {"frontend.checkpoint": "beats-iter3-as2m", "frontend.mode": "frozen"},
     73.79, None, 1, "GenRep (arXiv 2409.05035)"),
    ("dcase2023", "LoRA-tuned BEATs", "-", "beats", "pool", "-",
     {"frontend.mode": "lora"}, 77.75, None, 1, "arXiv 2409.07016"),
    ("dcase2023", "ASDKit: EAT + sub-cluster AdaCos, fine-tuned", "subcluster-adacos", "eat",
     "pool", "-", {"frontend.mode": "lora"}, 72.04, 0.77, 4,
     "TakuyaFujimura/dcase-asd-toolkit docs/results.png"),
    ("dcase2024", "DCASE 2024 Task 2 top system", "challenge-top", "-", "-", "-", {}, 66.24,
     None, 1, "DCASE 2024 Task 2 results"),
    ("dcase2024", "ASDKit: BEATs + sub-cluster AdaCos, fine-tuned", "subcluster-adacos",
     "beats", "pool", "-", {"frontend.mode": "lora"}, 61.72, 0.73, 4,
     "TakuyaFujimura/dcase-asd-toolkit docs/results.png"),
)


def reference_results() -> list[dict]:
    """Every published row as a dict of the ``asdbench_reference_results`` hook."""
    rows = []
    for (dataset, label, method, frontend, backbone, scorer, settings, score, spread, trials,
         source) in _ROWS:
        note = f"evaluation set, official score; mean of {trials} trainings" if trials > 1 \
            else "evaluation set, official score"
        if spread is not None:
            note += f" (± {spread:.2f})"
        rows.append({"source": source, "label": label, "table": TABLE, "method": method,
                     "frontend": frontend, "backbone": backbone, "scorer": scorer,
                     "dataset": dataset, "set": "eval", "protocol": PROTOCOL,
                     "settings": dict(settings), "trials": trials, "note": note,
                     "metrics": {"average": {"official": round(score / 100, 6)}}})
    return rows
