"""``asdbench run``: train one combination and evaluate it."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from asdbench.commands.common import (
    RESULTS_FOLDER,
    build_config,
    config_options,
    ensure_writable,
    print_metrics,
)
from asdbench.config import COMPONENT_DEFAULTS, DEFAULT_EPOCHS, TRAIN_DEFAULTS
from asdbench.workspace import DEFAULT_HELP, default_results

if TYPE_CHECKING:
    from asdbench.config import RunConfig
    from asdbench.run.rundir import RunDir

# The synthetic dataset's training defaults, as its plugin sets them (tests/test_feedback.py
# checks these against the resolved config), named in --help.
SYNTHETIC_EPOCHS, SYNTHETIC_BATCH = 6, 32
DEFAULT_SCORER = COMPONENT_DEFAULTS["scorer"]  # the CE of the own ID: an ID classifier's
REFERENCE_SCORER = "mahalanobis"  # the reference's scorer (asdbench.run.reference.COMPONENTS)


def enable_huge_pages() -> None:
    """Large CPU tensors on transparent huge pages, for a process about to train.

    PyTorch's CPU allocator reads ``THP_MEM_ALLOC_ENABLE`` at its first large allocation, so
    this runs before training starts. A training step's activations are GBs, freed and
    page-faulted in again every step (the gain: results/BENCHMARKS.md, "Huge pages"). A
    user's own setting wins; ``THP_MEM_ALLOC_ENABLE=0`` switches it off.
    """
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


@click.command("run")
@config_options
@click.option("--epochs", type=int,
              help=f"Training epochs (default: the dataset's or method's: {SYNTHETIC_EPOCHS} for "
              f"synthetic, 300 for dcase2020; {DEFAULT_EPOCHS} when none sets it). "
              "`asdbench describe` with the same options shows the resolved settings.")
@click.option("--batch-size", type=int,
              help=f"Batch size (default {TRAIN_DEFAULTS['train.batch_size']}, the paper's; the "
              f"dataset's or method's when it sets one: {SYNTHETIC_BATCH} for synthetic).")
@click.option("--seed", type=int, help="Random seed (default 0).")
@click.option("--device", help=f"{TRAIN_DEFAULTS['train.device']} (default), cpu, cuda or "
              "cuda:K.")
@click.option("--results", type=RESULTS_FOLDER, default=default_results,
              show_default=DEFAULT_HELP, help="Results folder; the run goes to RESULTS/runs/<run-id>/.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last epoch.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object with the results on stdout (progress stays on stderr).")
@click.option("--quiet", is_flag=True,
              help="No progress on stderr (bars on a terminal, plain lines elsewhere).")
@click.option("--expect-run-id", metavar="RUN_ID",
              help="Refuse to train unless the settings resolve to this run id; print the "
              "result as one JSON line last (what `asdbench matrix` reads).")
@click.option("--scorers", "scorer_specs", multiple=True, metavar="SPECS",
              help="Scorers of the same trained model, comma-separated: own (the run's "
              "scorer), NAME or NAME:KEY=VALUE (with its options). Each is written as `asdbench "
              "eval --scorer` writes it, a leaderboard row of the run. Default: "
              f"own,{REFERENCE_SCORER} when the run's scorer is {DEFAULT_SCORER} (an ID "
              "classifier's embeddings scored per ID as well), else own. A config file may "
              "set `scorers = [...]`.")
@click.option("--no-reference", is_flag=True,
              help="Skip the non-learned reference (a per-ID Gaussian on clip log-Mel "
              "statistics, fitted on the run's training clips, scored on its test clips) and "
              "the lift over it (by default both are in the output and metrics.json).")
def command(epochs, batch_size, seed, device, results, resume, as_json, quiet, expect_run_id,
            scorer_specs, no_reference, **kw) -> None:
    """Train one combination and evaluate it under every protocol of its dataset.

    \b
    Examples:
      asdbench run --method os-scl --frontend tfstgram
      asdbench run --method arcface --frontend stgram --epochs 5 --seed 1
      asdbench run --dataset dcase2020 --data-root ~/data/dcase2020 --epochs 300 --device cuda
      asdbench run --method os-scl --frontend logmel --set method.fph_reduction=32 --json
    """
    enable_huge_pages()
    named = {"train.epochs": epochs, "train.batch_size": batch_size, "seed": seed,
             "train.device": device}
    cfg = build_config(**kw, **{k: v for k, v in named.items() if v is not None})
    if expect_run_id is not None and cfg.run_id != expect_run_id:
        from asdbench.registry import AsdbenchError

        raise AsdbenchError(f"the settings resolve to run id {cfg.run_id}, "
                            f"not the expected {expect_run_id}")
    specs = scorers_of(cfg, scorer_specs, kw.get("config_file"))
    ensure_writable(results)  # before anything is decoded
    from asdbench.registry import plugin_stdout
    from asdbench.run.pipeline import train_and_evaluate

    with plugin_stdout(as_json or expect_run_id is not None):  # stdout: the JSON alone
        metrics, run = train_and_evaluate(cfg, results, resume=resume, progress=not quiet,
                                          scorers=specs, reference=not no_reference)
    run_dir = run.path
    summary = run_summary(run, specs, cfg)
    if as_json:
        click.echo(json.dumps(json_summary(metrics, run_dir, summary), indent=2))
    else:
        print_metrics(metrics)
        for line in summary_lines(summary):
            click.echo(line)  # plain lines: identifiers never wrap mid-word
        click.echo(f"run id: {metrics['run_id']}")
        click.echo(f"run folder: {run_dir}")
    line = data_problems_line(run.data_problems(), cfg)
    if line:
        click.echo(line, err=True)  # one line on stderr, never wrapped: --json keeps stdout
    if expect_run_id is not None:  # last stdout line: the matrix parses it
        from asdbench.matrix.outcome import result_line

        click.echo(result_line(metrics["run_id"], run_dir))


def scorers_of(cfg: RunConfig, given: tuple[str, ...], config_file: Path | None) -> list[str]:
    """The scorer specs of a run: ``--scorers``, else the config file's ``scorers``, else
    the default (``own``, and the reference's scorer for a run scored by the default one)."""
    from asdbench.run.evaluations import parse_scorers

    if given:
        return parse_scorers(given)
    if config_file is not None:
        from asdbench.config import load_toml

        listed = load_toml(config_file).get("scorers")
        if listed is not None:
            return parse_scorers(listed if isinstance(listed, list) else [listed])
    return parse_scorers([REFERENCE_SCORER] if cfg.scorer == DEFAULT_SCORER else [])


def run_summary(run: RunDir, specs: list[str], cfg: RunConfig) -> dict[str, Any]:
    """What the run's closing table shows: per scorer (own, extras, the reference) its
    average AUC with the half-width of its 95 % interval over machine IDs and its lift,
    in the official set and protocol; the held-out ID accuracy at the last epoch."""
    from asdbench.run.evaluations import spec_overrides
    from asdbench.run.reference import FOLDER, auc_interval
    from asdbench.run.rundir import RunDir

    metrics = run.read_metrics() or {}
    where = (metrics.get("official_set"), metrics.get("official_protocol"))
    folders = [("own", run.path)]
    for spec in specs[1:]:
        overrides = spec_overrides(spec)
        folders.append((spec, run.rescore_dir(overrides["scorer"], overrides)))
    folders.append(("reference", run.path / RunDir.EVAL / FOLDER))
    rows = []
    for spec, folder in folders:
        got = RunDir(folder).read_metrics()
        if got is None:
            continue
        pm = ((got.get("sets") or {}).get(where[0]) or {}).get("protocols", {}).get(where[1])
        if pm is None:
            continue
        auc, half, n_ids = auc_interval(pm)
        used = got.get("config", {})
        rows.append({"spec": spec, "method": used.get("method"), "scorer": used.get("scorer"),
                     "auc": auc, "ci": half if half == half else None, "n_ids": n_ids,
                     "lift": pm["average"].get("lift"), "lift_ci": pm["average"].get("lift_ci")})
    log = run.read_log()
    held = log[-1].get("val_acc_no_margin") if log else None
    return {"set": where[0], "protocol": where[1], "method": cfg.method,
            "frontend": cfg.frontend, "rows": rows,
            "heldout_id_accuracy": held if held == held else None}


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The closing table as plain lines of at most 80 characters (numbers in %)."""
    rows = summary["rows"]
    if not rows:
        return []
    n_ids = max(r["n_ids"] for r in rows)
    lines = [f"{summary['method']} on {summary['frontend']}: average AUC over {n_ids} machine "
             f"IDs ({summary['set']}, {summary['protocol']})",
             f"{'scored by':<34}{'AUC %':>7}{'95 % CI':>14}{'vs reference':>16}"]
    for r in rows:
        if r["spec"] == "reference":
            label = "reference: clip statistics"
        elif r["spec"] == "own":
            label = f"{r['method']}, own score ({r['scorer']})"
        else:
            label = f"{r['method']} embeddings, {r['spec']}"
        ci = "–"
        if r["ci"] is not None:
            low, high = max(0.0, r["auc"] - r["ci"]), min(1.0, r["auc"] + r["ci"])
            ci = f"{100 * low:.1f}–{100 * high:.1f}"
        lift = "" if r["lift"] is None else f"{100 * r['lift']:+.1f}"
        if lift and r["lift_ci"] is not None and r["lift_ci"] == r["lift_ci"]:
            lift += f" ± {100 * r['lift_ci']:.1f}"
        lines.append(f"{label[:33]:<34}{100 * r['auc']:>7.1f}{ci:>14}{lift:>16}")
    held = summary.get("heldout_id_accuracy")
    if held is not None:
        lines.append(f"held-out ID accuracy (last epoch, no margin): {100 * held:.1f} %")
    return lines


def json_summary(metrics: dict, run_dir: Path, summary: dict | None = None) -> dict:
    """What ``run --json`` prints: each protocol's averages and ``protocols`` of the set named
    ``set`` (the one ``metrics.json`` keeps at its top level: the official set), the
    ``official_set`` (whose submission the evaluators score) and ``sets``, every test set's
    metrics as ``metrics.json`` holds them. A run written before sets were kept apart has no
    ``sets``, and ``set`` null (its numbers are of whatever test clips it had)."""
    from asdbench.metrics.sets import top_level_set

    sets = metrics.get("sets") or {}
    out = {"run_dir": str(run_dir), "run_id": metrics["run_id"],
           "official_protocol": metrics["official_protocol"],
           "official_set": metrics.get("official_set"), "set": top_level_set(metrics),
           "wall_time_s": metrics.get("wall_time_s")}
    for name, m in metrics["protocols"].items():
        out[name] = {k: m["average"].get(k) for k in ("auc", "pauc", "mauc", "official")
                     if k in m["average"]}
    out["protocols"] = metrics["protocols"]
    if sets:
        out["sets"] = sets
    if metrics.get("reference"):
        out["reference"] = metrics["reference"]
    if summary is not None:
        out["summary"] = summary
    return out


def data_problems_line(problems: list[tuple[str, str]], cfg: RunConfig) -> str | None:
    """The clips a run left out (and those it kept changed), counted by reason, with the
    ``asdbench data check`` command that lists each one; None when there were none."""
    from collections import Counter

    from asdbench.audio import KEPT as kept_notes  # clips kept, changed
    skipped: Counter = Counter()
    changed: Counter = Counter()
    for item, message in problems:
        reason = message.split(":")[0].removesuffix(" (clip skipped)").strip()
        head = str(item).split(" ", 1)[0]
        count = int(head) if head.isdigit() else 1  # "3 test clips": a count, not a path
        (changed if reason in kept_notes else skipped)[reason] += count
    parts = []
    for counts, what in ((skipped, "skipped"), (changed, "kept changed")):
        if counts:
            total = sum(counts.values())
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            causes = ", ".join(f"{n} {reason}" for reason, n in ranked)
            parts.append(f"{total} clip{'s' * (total != 1)} {what} ({causes})")
    if not parts:
        return None
    return f"data: {'; '.join(parts)}; each one: {data_check_command(cfg)}"


def data_check_command(cfg: RunConfig) -> str:
    """``asdbench data check`` for a run's dataset with its non-default data settings."""
    from asdbench.config import resolve
    from asdbench.plugins import get_registry

    defaults = resolve({"dataset": cfg.dataset}, get_registry())
    given = {k: v for k, v in sorted(cfg.items())
             if k.startswith("data.") and defaults.get(k) != v}
    args = [f"--dataset {cfg.dataset}"]
    if "data.root" in given:
        args.append(f"--data-root {shlex.quote(str(given.pop('data.root')))}")
    args += [f"--set {shlex.quote(f'{k}={v}')}" for k, v in given.items()]
    return " ".join(["asdbench data check", *args])
