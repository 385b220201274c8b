"""``asdbench run``: train one combination and evaluate it."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from asdbench.commands.common import (
    RESULTS_FOLDER,
    build_config,
    config_options,
    console,
    ensure_writable,
    print_metrics,
)
from asdbench.config import DEFAULT_EPOCHS, TRAIN_DEFAULTS
from asdbench.workspace import DEFAULT_HELP, default_results

if TYPE_CHECKING:
    from asdbench.config import RunConfig

# The synthetic dataset's training defaults, as its plugin sets them (tests/test_feedback.py
# checks these against the resolved config), named in --help.
SYNTHETIC_EPOCHS, SYNTHETIC_BATCH = 6, 32


def enable_huge_pages() -> None:
    """Large CPU tensors on transparent huge pages, for a process about to train.

    PyTorch's CPU allocator reads ``THP_MEM_ALLOC_ENABLE`` at its first large allocation, so
    this runs before training starts. A training step's activations are GBs, freed and
    page-faulted in again every step; measured on this project's 2-core CPU, a 10-s TFSTgram
    step at batch 64 ran 1.45x faster (9.8 s against 14.4 s, 90x fewer page faults). A user's
    own setting wins; ``THP_MEM_ALLOC_ENABLE=0`` switches it off.
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
def command(epochs, batch_size, seed, device, results, resume, as_json, quiet, expect_run_id,
            **kw) -> None:
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
    ensure_writable(results)  # before anything is decoded
    from asdbench.run.pipeline import train_and_evaluate

    metrics, run = train_and_evaluate(cfg, results, resume=resume, progress=not quiet)
    run_dir = run.path
    if as_json:
        click.echo(json.dumps(json_summary(metrics, run_dir), indent=2))
    else:
        print_metrics(metrics)
        console.print(f"run folder: {run_dir}")
    line = data_problems_line(run.data_problems(), cfg)
    if line:
        click.echo(line, err=True)  # one line on stderr, never wrapped: --json keeps stdout
    if expect_run_id is not None:  # last stdout line: the matrix parses it
        from asdbench.matrix.outcome import result_line

        click.echo(result_line(metrics["run_id"], run_dir))


def json_summary(metrics: dict, run_dir: Path) -> dict:
    """What ``run --json`` prints: each protocol's averages and ``protocols`` of the set named
    ``set`` (the one ``metrics.json`` keeps at its top level: ``dev``, else the only set), the
    ``official_set`` (whose submission the evaluators score) and ``sets``, every test set's
    metrics as ``metrics.json`` holds them. A run written before sets were kept apart has no
    ``sets``, and ``set`` null (its numbers are of whatever test clips it had)."""
    from asdbench.metrics.sets import primary_set

    sets = metrics.get("sets") or {}
    out = {"run_dir": str(run_dir), "run_id": metrics["run_id"],
           "official_protocol": metrics["official_protocol"],
           "official_set": metrics.get("official_set"), "set": primary_set(list(sets)) if sets else None,
           "wall_time_s": metrics.get("wall_time_s")}
    for name, m in metrics["protocols"].items():
        out[name] = {k: m["average"].get(k) for k in ("auc", "pauc", "mauc", "official")
                     if k in m["average"]}
    out["protocols"] = metrics["protocols"]
    if sets:
        out["sets"] = sets
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
