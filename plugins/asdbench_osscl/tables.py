"""The OS-SCL paper's tables as leaderboard table kinds (``asdbench leaderboard --table``).

Each kind shows the columns of its table in the paper; ``--reference paper`` adds the
published rows of the same table (:mod:`asdbench_osscl.reference`, whose ``table`` keys are
these names). Columns follow the paper's machine-type order (DCASE 2020 Task 2).
"""

from __future__ import annotations

from asdbench.sdk import OFFICIAL, TableKind

TYPE_ORDER = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")


def table_kinds() -> list[TableKind]:
    """Tables II, III, IV and VI; Table II is the default ``--table``."""
    return [
        TableKind("table2", "OS-SCL paper Table II: per machine type AUC and pAUC",
                  type_order=TYPE_ORDER, default=True),
        TableKind("table3", "OS-SCL paper Table III (frontend/method ablation): AUC and pAUC",
                  type_order=TYPE_ORDER),
        # mAUC: the lowest per-ID AUC of a type, so per ID the column is that ID's AUC. The
        # table is about mAUC and ranks by it, even where a DCASE 2021+ official score exists.
        TableKind("table4", "OS-SCL paper Table IV: per machine type mAUC",
                  metrics=("mauc",), id_metrics=("auc",), rank_by=("average.mauc",),
                  type_order=TYPE_ORDER),
        TableKind("table6", "OS-SCL paper Table VI (FPH reduction sweep): AUC",
                  metrics=("auc",), rank_by=(OFFICIAL, "average.auc"), type_order=TYPE_ORDER),
    ]
