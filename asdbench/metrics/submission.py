"""Official DCASE submission files: anomaly scores (``file_name,score`` lines, no header) and,
when the scores carry decisions, decision results (``file_name,0|1``) beside them, named as
the 2021-2025 evaluators read them (``decision_result_`` + the anomaly-score file's rest)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from asdbench.atomic import atomic_write_text
from asdbench.metrics.core import prepare_scores
from asdbench.metrics.protocols import LAYOUTS, ProtocolRegistry, given
from asdbench.registry import AsdbenchError


def _bare(machine_id: str) -> str:
    """``"00"`` from ``"00"``, ``"id_00"`` or ``"section_00"``."""
    for prefix in ("id_", "section_"):
        if machine_id.startswith(prefix):
            return machine_id[len(prefix):]
    return machine_id


def submission_name(machine_type: str, machine_id: str, domain: str = "",
                    layout: str = "id") -> str:
    """Official anomaly-score file name of one (type, ID/section[, domain]).

    ``id`` (2020): ``anomaly_score_<type>_id_<XX>.csv``; ``section`` (2022-2025):
    ``anomaly_score_<type>_section_<XX>_test.csv``; ``section_domain`` (2021):
    ``anomaly_score_<type>_section_<XX>_<domain>_test.csv``.
    """
    mid = _bare(str(machine_id))
    if layout == "id":
        return f"anomaly_score_{machine_type}_id_{mid}.csv"
    if layout == "section":
        return f"anomaly_score_{machine_type}_section_{mid}_test.csv"
    if layout == "section_domain":
        return f"anomaly_score_{machine_type}_section_{mid}_{domain}_test.csv"
    raise AsdbenchError(f"unknown submission layout {layout!r}; layouts: {', '.join(LAYOUTS)}")


def decision_name(machine_type: str, machine_id: str, domain: str = "",
                  layout: str = "id") -> str:
    """Official decision-result file name: :func:`submission_name` with ``decision_result_``
    in place of ``anomaly_score_`` (e.g. ``decision_result_fan_section_00_test.csv``)."""
    name = submission_name(machine_type, machine_id, domain, layout)
    return "decision_result_" + name[len("anomaly_score_"):]


def _lines(files: pd.Series, values: list) -> str:
    """``file,value`` rows by the CSV writer: a name holding a comma, a quote or a newline is
    quoted, so the evaluators' CSV reader gets it back whole."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows((f, repr(v)) for f, v in zip(files.astype(str), values, strict=True))
    return out.getvalue()


def resolve_layout(layout: str, df: pd.DataFrame, registry: ProtocolRegistry | None) -> str:
    """A layout of :data:`LAYOUTS` from a layout, a protocol name or "auto" ("id" when no
    clip has a domain, else "section")."""
    if layout == "auto":
        return "id" if (df["domain"] == "").all() else "section"
    if layout in LAYOUTS:
        return layout
    registry = given(registry)
    if layout in registry:
        return registry.get(layout).submission_layout
    raise AsdbenchError(f"unknown submission layout {layout!r}; layouts: {', '.join(LAYOUTS)} "
                        f"or a protocol name ({', '.join(registry.names())})")


def write_submission(scores: pd.DataFrame, out_dir: str | Path, layout: str = "auto",
                     registry: ProtocolRegistry | None = None) -> list[Path]:
    """Write the official anomaly-score files (``file_name,score`` lines, no header), and with
    a ``decision`` column (0/1) the decision-result files beside them (:func:`decision_name`).

    One file per (type, ID) — per (type, section, domain) for the ``section_domain`` layout —
    holding every clip whatever its label (evaluation clips have none), sorted by file name.
    ``layout`` is one of :data:`LAYOUTS`, a protocol name (its ``submission_layout``, looked up
    in ``registry``) or "auto" (see :func:`resolve_layout`). Each file is written atomically.
    Returns the paths written.
    """
    if "file" not in scores.columns:
        raise AsdbenchError("score table lacks column 'file' needed for submission files")
    df = prepare_scores(scores, labelled=False)
    layout = resolve_layout(layout, df, registry)
    by = ["machine_type", "machine_id"] + (["domain"] if layout == "section_domain" else [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key, g in df.groupby(by, sort=True):
        mtype, mid = key[0], key[1]
        dom = key[2] if layout == "section_domain" else ""
        if layout == "section_domain" and dom not in ("source", "target"):
            raise AsdbenchError(f"the section_domain submission layout needs domain 'source' or "
                                f"'target'; {mtype}/{mid} has {dom!r}")
        g = g.sort_values("file", kind="stable")
        path = out / submission_name(mtype, mid, dom, layout)
        atomic_write_text(path, _lines(g["file"], g["score"].astype(float).tolist()))
        written.append(path)
        if "decision" in g.columns:
            path = out / decision_name(mtype, mid, dom, layout)
            atomic_write_text(path, _lines(g["file"], g["decision"].astype(int).tolist()))
            written.append(path)
    return written
