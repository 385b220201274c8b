"""Leaderboards from finished runs: seeds grouped into mean ± std, rows ranked.

Reads ``RESULTS/runs/*/metrics.json`` and nothing else of the results folder; writes only
where told (``--out``, ``--plots``). A row's identity is everything that determines its
numbers except the seed: method, frontend, backbone, dataset, scorer, protocol and every
non-default setting, plus a hash of the whole config (``recipe``) so that runs of different
recipes are never averaged together, even when they look alike. Dataset folders
(``data.root``, ``data.eval_root``) count by their last component only: the same recipe run on
two machines is one row.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from asdbench.atomic import atomic_write_text
from asdbench.config import COMPONENT_DEFAULTS, NON_IDENTITY_KEYS
from asdbench.registry import KINDS, AsdbenchError, Registry

IDENTITY = ["source", "method", "frontend", "backbone", "dataset", "scorer", "protocol",
            "settings", "recipe"]
# Shown even when every row has the same value; the others then move to the caption.
ALWAYS_SHOWN = ("method", "frontend")
TABLE_KINDS = ("table2", "table3", "table4", "table6")
FORMATS = ("rich", "markdown", "csv", "latex", "html")
MEASURED = "measured"
# The paper's column order for DCASE 2020; other types follow alphabetically.
TYPE_ORDER = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")
COUNT_PREFIX = "n_"
# DCASE 2021+ score (harmonic mean over sections/domains, ``average.official`` in metrics.json);
# None under dcase2020/pooled, so its column appears only where some row has it.
OFFICIAL = "average.official"


# --- collecting runs ---------------------------------------------------------------------


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _is_location(key: str) -> bool:
    """Dataset folders (``data.root``, ``data.eval_root``): where data is, not what it is."""
    last = key.rsplit(".", 1)[-1]
    return last == "root" or last.endswith("_root")


def _portable(key: str, value: Any) -> Any:
    """A folder reduced to its last component, so that one recipe run on two machines (data
    under different paths) is one row, while different datasets still differ."""
    if _is_location(key) and isinstance(value, str) and value:
        return Path(value.rstrip("/\\")).name or value
    return value


def recipe_hash(cfg: dict[str, Any]) -> str:
    """Hash of everything that determines a run's numbers except its seed."""
    identity = {k: _portable(k, v) for k, v in cfg.items()
                if k != "seed" and k not in NON_IDENTITY_KEYS}
    return hashlib.sha256(_canon(identity).encode()).hexdigest()[:10]


class _Defaults:
    """Resolved default configs per component combination (cached), for ``settings``."""

    def __init__(self, registry: Registry | None):
        self.registry = registry
        self.cache: dict[tuple, dict[str, Any] | str] = {}

    def __call__(self, cfg: dict[str, Any]) -> dict[str, Any] | str:
        from asdbench.config import resolve

        names = tuple(cfg.get(k) for k in KINDS)
        if names not in self.cache:
            try:
                if self.registry is None:
                    from asdbench.plugins import get_registry

                    self.registry = get_registry()
                self.cache[names] = resolve(dict(zip(KINDS, names, strict=True)), self.registry)
            except AsdbenchError as exc:  # a plugin no longer installed: say so in the row
                self.cache[names] = str(exc)
        return self.cache[names]


def settings_of(cfg: dict[str, Any], defaults: dict[str, Any]) -> str:
    """``key=value`` of every setting that differs from its default (seed and device aside)."""
    out = []
    for key in sorted(cfg):
        if key == "seed" or key in NON_IDENTITY_KEYS or key in KINDS:
            continue
        value = _portable(key, cfg[key])
        if key not in defaults or _canon(_portable(key, defaults[key])) != _canon(value):
            out.append(f"{key}={_short(value)}")
    return ", ".join(out)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def _metric_items(prefix: str, values: dict[str, Any]):
    for name, value in values.items():
        if name.startswith(COUNT_PREFIX) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or value is None:
            yield f"{prefix}.{name}", (np.nan if value is None else float(value))


def collect(results_dir: str | Path, registry: Registry | None = None) -> pd.DataFrame:
    """One row per finished run and protocol, with identity columns and every metric.

    Metric columns are ``<type>.<metric>``, ``average.<metric>`` and ``<type>/<id>.<metric>``
    (fractions). Runs whose ``metrics.json`` cannot be read are skipped and listed in
    ``df.attrs["warnings"]``.
    """
    runs = Path(results_dir) / "runs"
    defaults = _Defaults(registry)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in sorted(runs.glob("*/metrics.json")) if runs.is_dir() else []:
        try:
            m = json.loads(path.read_text())
            cfg = m["config"]
            protocols = m["protocols"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            warnings.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
            continue
        base = defaults(cfg)
        if isinstance(base, str):
            settings, note = "", f"defaults unknown: {base}"
        else:
            settings, note = settings_of(cfg, base), ""
        for name, pm in protocols.items():
            row: dict[str, Any] = {
                "source": MEASURED, "method": cfg.get("method"), "frontend": cfg.get("frontend"),
                "backbone": cfg.get("backbone"), "dataset": cfg.get("dataset"),
                "scorer": cfg.get("scorer"), "protocol": name, "settings": settings,
                "recipe": recipe_hash(cfg), "seed": cfg.get("seed"),
                "official": name == m.get("official_protocol"),
                "run_id": m.get("run_id", path.parent.name), "path": str(path.parent),
                "best_epoch": m.get("best_epoch"), "epochs": m.get("epochs"),
                "wall_time_s": m.get("wall_time_s"), "note": note,
            }
            row.update(_metric_items("average", pm.get("average", {})))
            for mtype, values in pm.get("types", {}).items():
                row.update(_metric_items(mtype, values))
            for key, values in pm.get("ids", {}).items():
                row.update(_metric_items(key, values))
            rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["warnings"] = warnings
    return df


def reference_frame(references: list[list[dict]] | list[dict] | None = None) -> pd.DataFrame:
    """Published results (the ``asdbench_reference_results`` hook) as leaderboard rows."""
    if references is None:
        from asdbench.plugins import default_plugins

        references = default_plugins().hook.asdbench_reference_results()
    flat: list[dict] = []
    for item in references or []:
        flat.extend(item if isinstance(item, list) else [item])
    rows = []
    for ref in flat:
        settings = ref.get("settings") or {}
        row: dict[str, Any] = {
            "source": f"reference: {ref.get('source', '?')}"
                      + (f" — {ref['label']}" if ref.get("label") else ""),
            "table": ref.get("table"), "note": ref.get("note", ""),
            "method": ref.get("method"), "frontend": ref.get("frontend"),
            "backbone": ref.get("backbone") or COMPONENT_DEFAULTS["backbone"],
            "dataset": ref.get("dataset"),
            "scorer": ref.get("scorer") or COMPONENT_DEFAULTS["scorer"],  # the paper's CE score
            "protocol": ref.get("protocol"),
            "settings": ", ".join(f"{k}={_short(v)}" for k, v in sorted(settings.items())),
            "recipe": "", "seed": np.nan, "official": False,
        }
        for key, values in (ref.get("metrics") or {}).items():
            row.update(_metric_items(key, values))
        rows.append(row)
    return pd.DataFrame(rows)


# --- tables ------------------------------------------------------------------------------


def _type_sort_key(name: str) -> tuple:
    return (TYPE_ORDER.index(name), "") if name in TYPE_ORDER else (len(TYPE_ORDER), name.lower())


def metric_columns(df: pd.DataFrame, kind: str = "table2", by: str = "type") -> list[str]:
    """The metric columns of a table kind, in display order (averages last)."""
    if kind not in TABLE_KINDS:
        raise AsdbenchError(f"unknown table '{kind}'; tables: {', '.join(TABLE_KINDS)}")
    if by not in ("type", "id"):
        raise AsdbenchError(f"--by must be 'type' or 'id', not '{by}'")
    groups: dict[str, list[str]] = {}
    for col in df.columns:
        if "." not in col or col.startswith("average."):
            continue
        group, metric = col.rsplit(".", 1)
        if ("/" in group) == (by == "id") and df[col].notna().any():
            groups.setdefault(group, []).append(metric)
    ordered = sorted(groups, key=lambda g: (_type_sort_key(g.split("/", 1)[0]), g))
    if kind == "table4":  # mAUC: per ID it is the AUC whose minimum gives the type's mAUC
        wanted, average = (["mauc"] if by == "type" else ["auc"]), ["mauc"]
    elif kind == "table6":  # AUC only, as the paper's FPH sweep
        wanted, average = ["auc"], ["auc"]
    else:  # table2, table3 (ablation): AUC and pAUC
        wanted, average = ["auc", "pauc"], ["auc", "pauc"]
    cols = [f"{g}.{m}" for g in ordered for m in wanted if m in groups[g]]
    official = [OFFICIAL] if OFFICIAL in df.columns and df[OFFICIAL].notna().any() else []
    return cols + official + [f"average.{m}" for m in average if f"average.{m}" in df.columns]


def primary_metric(kind: str, metrics: Iterable[str] = ()) -> str:
    """The metric rows are ranked by: the DCASE 2021+ official score where ``metrics`` (a
    table's columns) has it, as those editions rank; else average AUC (average mAUC for table4,
    which is about mAUC and keeps it even where an official score exists)."""
    if kind != "table4" and OFFICIAL in set(metrics):
        return OFFICIAL
    return "average.mauc" if kind == "table4" else "average.auc"


def table(df: pd.DataFrame, protocol: str | None = None, by: str = "type",
          kind: str = "table2", references: pd.DataFrame | None = None) -> pd.DataFrame:
    """Group runs over seeds into one row per recipe: ``<metric>_mean``, ``_std``, ``n``.

    ``protocol=None`` takes each run's official protocol. Reference rows (from
    :func:`reference_frame`) of this table kind and of the protocols and datasets shown are
    added, labelled by their ``source``. Rows are ranked by the table's primary metric
    (:func:`primary_metric`: the official score where shown, else average AUC; average mAUC for
    table4), best first, ties and rows without it (NaN: last) by average AUC / mAUC. The
    primary metric is in ``attrs["primary"]``.
    """
    if df.empty:
        measured = df
    elif protocol is None:
        measured = df[df["official"]]
    else:
        measured = df[df["protocol"] == protocol]
        if measured.empty:
            have = ", ".join(sorted(df["protocol"].unique()))
            raise AsdbenchError(f"no finished run has protocol '{protocol}'; protocols: {have}")
    frames = [measured]
    if references is not None and not references.empty:
        refs = references[references["table"].isin([kind, None]) | references["table"].isna()]
        if protocol is not None:
            refs = refs[refs["protocol"] == protocol]
        elif not measured.empty:
            refs = refs[refs["protocol"].isin(set(measured["protocol"]))]
        if not measured.empty:  # numbers on another dataset compare with nothing here
            refs = refs[refs["dataset"].isin(set(measured["dataset"]))]
        frames.append(refs)
    data = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
        not f.empty for f in frames) else pd.DataFrame(columns=IDENTITY)
    metrics = metric_columns(data, kind, by) if not data.empty else []
    rows = []
    for key, group in data.groupby(IDENTITY, dropna=False, sort=False):
        row = dict(zip(IDENTITY, key, strict=True))
        is_ref = row["source"] != MEASURED
        row["n"] = 0 if is_ref else len(group)
        row["seeds"] = "" if is_ref else ",".join(
            str(int(s)) for s in sorted(group["seed"].dropna()))
        for col in metrics:
            values = group[col].dropna() if col in group else pd.Series(dtype=float)
            row[f"{col}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*IDENTITY, "n", "seeds",
                                      *(f"{c}_{s}" for c in metrics for s in ("mean", "std"))])
    primary = primary_metric(kind, metrics)
    # Rows without an official score (a dcase2020 run beside dcase2022 ones under each
    # dataset's own protocol) go after those with one, ranked among themselves by AUC.
    keys = [f"{m}_mean" for m in dict.fromkeys([primary, primary_metric(kind)])
            if f"{m}_mean" in out.columns]
    if keys and len(out):
        out = out.sort_values(keys, ascending=False, na_position="last", kind="stable")
    out.insert(0, "rank", range(1, len(out) + 1))
    out = out.reset_index(drop=True)
    out.attrs.update({"metrics": metrics, "kind": kind, "by": by, "protocol": protocol,
                      "primary": primary})
    return out


# --- rendering ---------------------------------------------------------------------------


def display_columns(tbl: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Identity columns worth a column (values differ) and the caption of the constant ones."""
    shown, caption = [], {}
    for col in IDENTITY:
        values = set(tbl[col].fillna("").astype(str)) if col in tbl else set()
        if col == "recipe":
            # Shown only when two rows would otherwise look identical.
            looks = tbl[[c for c in IDENTITY if c != "recipe"]].astype(str).duplicated(keep=False)
            if looks.any():
                shown.append(col)
            continue
        if col == "source" and values == {MEASURED}:
            continue
        if col in ALWAYS_SHOWN or len(values) > 1:
            shown.append(col)
        elif values and values != {""}:
            caption[col] = next(iter(values))
    return shown, caption


def _pct(mean: float, std: float, plain_pm: str = " ± ") -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    text = f"{100 * mean:.2f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f"{plain_pm}{100 * std:.2f}"
    return text


def _header(col: str) -> str:
    if col == OFFICIAL:
        return "official"
    group, metric = col.rsplit(".", 1)
    return f"{group} {metric.upper().replace('MAUC', 'mAUC').replace('PAUC', 'pAUC')}"


def formatted(tbl: pd.DataFrame, pm: str = " ± ") -> tuple[pd.DataFrame, str]:
    """The table as strings (metrics in %, ``mean ± std``) and its caption."""
    shown, caption = display_columns(tbl)
    metrics = tbl.attrs.get("metrics", [])
    out = pd.DataFrame({"rank": tbl["rank"].astype(str)})
    for col in shown:
        out[col] = tbl[col].fillna("").astype(str)
    out["n"] = ["ref" if s != MEASURED else str(n) for s, n in zip(tbl["source"], tbl["n"], strict=True)]
    for col in metrics:
        out[_header(col)] = [_pct(m, s, pm) for m, s in
                             zip(tbl[f"{col}_mean"], tbl[f"{col}_std"], strict=True)]
    kind = tbl.attrs.get("kind", "")
    protocol = tbl.attrs.get("protocol") or "official protocol of each dataset"
    parts = [f"{kind}", f"protocol: {protocol}"] + [f"{k}: {v}" for k, v in caption.items()
                                                    if k != "protocol"]
    text = " · ".join(parts) + " · values in %, mean ± std over seeds (n runs)"
    if OFFICIAL in metrics:
        text += (" · official: DCASE 2021+ score (harmonic mean over sections and domains)"
                 + (", ranks the rows" if tbl.attrs.get("primary") == OFFICIAL else ""))
    return out, text


def to_markdown(tbl: pd.DataFrame) -> str:
    frame, caption = formatted(tbl)
    cols = list(frame.columns)

    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---:" if c not in IDENTITY else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in frame.itertuples(False)]
    return f"{caption}\n\n" + "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(tbl: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    frame, caption = formatted(tbl, pm=" \u00b1 ")
    cols = list(frame.columns)
    align = "".join("l" if c in IDENTITY else "r" for c in cols)

    def cell(v: str) -> str:
        return latex_escape(v).replace("\u00b1", r"$\pm$").replace("\u2014", "--")

    lines = [f"% {latex_escape(caption)}", f"\\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(cell(c) for c in cols) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in frame.itertuples(False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(tbl: pd.DataFrame) -> str:
    """Numbers as fractions, one ``_mean``/``_std`` column pair per metric."""
    return tbl.to_csv(index=False)


def to_html(tbl: pd.DataFrame) -> str:
    frame, caption = formatted(tbl)
    body = frame.to_html(index=False, escape=True, border=0)
    from html import escape

    return f"<p>{escape(caption)}</p>\n{body}\n"


def to_rich(tbl: pd.DataFrame, title: str = "asdbench leaderboard"):
    from rich.markup import escape
    from rich.table import Table

    frame, caption = formatted(tbl)
    t = Table(title=escape(title), caption=escape(caption))
    for col in frame.columns:
        ident = col in IDENTITY
        t.add_column(escape(col), justify="left" if ident else "right", no_wrap=not ident)
    for row, source in zip(frame.itertuples(False), tbl["source"], strict=True):
        t.add_row(*(escape(str(v)) for v in row),
                  style="dim italic" if source != MEASURED else None)
    return t


def render(tbl: pd.DataFrame, fmt: str, width: int = 200) -> str:
    if fmt == "markdown":
        return to_markdown(tbl)
    if fmt == "csv":
        return to_csv(tbl)
    if fmt == "latex":
        return to_latex(tbl)
    if fmt == "html":
        return to_html(tbl)
    if fmt == "rich":
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=width, color_system=None).print(to_rich(tbl))
        return buf.getvalue()
    raise AsdbenchError(f"unknown --format '{fmt}'; formats: {', '.join(FORMATS)}")


# --- command line ------------------------------------------------------------------------


def matrix_run_ids(matrix_file: Path, registry: Registry | None = None) -> set[str]:
    """Run ids of the cells of a matrix config (``asdbench matrix`` file)."""
    from asdbench import plugins  # noqa: PLC0415
    from asdbench.matrix import load_matrix, plan  # noqa: PLC0415

    cells = plan(load_matrix(matrix_file), registry or plugins.get_registry())
    return {c.run_id for c in cells if c.run_id}


@click.command("leaderboard")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Results folder to read (RESULTS/runs/*/metrics.json).")
@click.option("--protocol", help="Metric protocol, e.g. dcase2020 or pooled "
              "(default: each dataset's official one).")
@click.option("--by", type=click.Choice(["type", "id"]), default="type", show_default=True,
              help="Columns per machine type or per machine ID.")
@click.option("--table", "kind", type=click.Choice(TABLE_KINDS), default="table2",
              show_default=True, help="Columns and published rows of the paper's table: "
              "table2/table3 AUC and pAUC, table4 mAUC, table6 AUC.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="rich", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (atomically).")
@click.option("--reference", type=click.Choice(["none", "paper"]), default="none",
              show_default=True, help="paper: add the published numbers, labelled as such.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              help="Also write PNG plots (bar chart, ROC curves, score distributions) here.")
@click.option("--matrix", "matrix_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Only the runs of this matrix config (its cells' run ids).")
def leaderboard_command(results: Path, protocol: str | None, by: str, kind: str, fmt: str,
                        out: Path | None, reference: str, plots_dir: Path | None,
                        matrix_file: Path | None = None) -> None:
    """Rank finished runs: seeds grouped into mean ± std, one row per recipe.

    \b
    Examples:
      asdbench leaderboard
      asdbench leaderboard --protocol pooled --reference paper
      asdbench leaderboard --table table4 --format markdown --out results/table4.md
      asdbench leaderboard --by id --format csv --out ids.csv --plots results/plots
      asdbench leaderboard --matrix configs/synthetic-benchmark.toml
    """
    from rich.console import Console

    err = Console(stderr=True)
    df = collect(results)
    for warning in df.attrs.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}")
    if matrix_file is not None and not df.empty:
        df = df[df["run_id"].isin(matrix_run_ids(matrix_file))]
    refs = reference_frame() if reference == "paper" else None
    if df.empty and (refs is None or refs.empty):
        raise AsdbenchError(f"{results}: no finished run (no runs/*/metrics.json); "
                            "run `asdbench run` or `asdbench matrix` first")
    tbl = table(df, protocol=protocol, by=by, kind=kind, references=refs)
    if refs is not None:
        shown = int((tbl["source"] != MEASURED).sum())
        if shown < len(refs):
            err.print(f"note: {len(refs) - shown} published result(s) left out (another "
                      "table, protocol or dataset)")
    if out is not None:
        atomic_write_text(out, render(tbl, fmt))
        err.print(f"wrote {out}")
    elif fmt == "rich":
        Console().print(to_rich(tbl))
    else:
        click.echo(render(tbl, fmt), nl=False)
    if plots_dir is not None:
        from asdbench.plots import make_plots

        paths = make_plots(df, tbl, plots_dir)
        err.print(f"wrote {len(paths)} plot(s) to {plots_dir}")
