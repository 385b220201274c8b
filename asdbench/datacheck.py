"""``asdbench data check``: what a dataset holds and what is wrong with it, before a run.

:func:`check_dataset` lists the clips, counts them per machine type, ID, split and label, and
(with ``decode=True``) decodes every clip through the waveform cache exactly as a run does, so
the check also fills the cache the run will use. Every problem found (missing or unlisted
files, unreadable, silent, too short clips, resampled or padded ones) is in its report.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from asdbench.data import ANOMALY, NORMAL, TEST, TRAIN, AudioSpec, Clip, DataReport
from asdbench.registry import AsdbenchError

# Problems shown per category in the table (all of them are in --json).
EXAMPLES_PER_CATEGORY = 3


@dataclass
class DataSummary:
    """Counts and problems of one dataset (see :func:`check_dataset`)."""

    dataset: str
    audio: AudioSpec
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per (type, ID)
    classes: list[str] = field(default_factory=list)
    report: DataReport = field(default_factory=DataReport)
    decoded: bool = False

    @property
    def problems(self) -> list[tuple[str, str]]:
        return self.report.problems

    @property
    def counts(self) -> Counter:
        return self.report.counts

    def total(self, column: str) -> int:
        return sum(int(r[column]) for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset,
                "audio": {"sample_rate": self.audio.sample_rate,
                          "clip_seconds": self.audio.clip_seconds},
                "decoded": self.decoded, "num_classes": len(self.classes),
                "classes": self.classes, "rows": self.rows,
                "problem_counts": dict(self.report.counts),
                "problems": [list(p) for p in self.report.problems]}


def _groups(clips: list[Clip]) -> dict[str, list[Clip]]:
    """The clip sets a run decodes separately (each is its own cache entry)."""
    return {"train": [c for c in clips if c.split == TRAIN],
            "test": [c for c in clips if c.split == TEST and c.label is not None],
            "unlabelled": [c for c in clips if c.split == TEST and c.label is None]}


def check_dataset(dataset: Any, audio: AudioSpec | None = None, *, decode: bool = True,
                  cache_dir: str | os.PathLike | None = None,
                  progress: bool = False) -> DataSummary:
    """Count ``dataset``'s clips per (type, ID, split, label) and collect every problem.

    ``decode=True`` also decodes every clip (through the cache, as a run does); clips that
    cannot be used are counted in the ``unusable`` column and listed in the report.
    """
    audio = audio or dataset.audio
    clips = dataset.clips()
    summary = DataSummary(dataset=getattr(dataset, "name", type(dataset).__name__), audio=audio)
    summary.report.merge(dataset.report)
    if not clips:
        raise AsdbenchError(f"dataset '{summary.dataset}' lists no clips")
    unusable: set[str] = set()
    if decode:
        from asdbench.cache import load_waveforms  # torch import only when decoding

        for group in _groups(clips).values():
            if not group:
                continue
            try:
                waves = load_waveforms(group, audio, cache_dir, on_error="skip",
                                       progress=progress)
            except AsdbenchError as exc:  # nothing decodable in this group
                summary.report.add(f"{len(group)} clips", f"unreadable: {exc}")
                unusable.update(str(c.path) for c in group)
                continue
            summary.report.merge(waves.report)
            kept = set(waves.kept)
            unusable.update(str(c.path) for i, c in enumerate(group) if i not in kept)
        summary.decoded = True
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for clip in clips:
        row = rows.setdefault((clip.machine_type, clip.machine_id), {
            "machine_type": clip.machine_type, "machine_id": clip.machine_id, "train": 0,
            "test_normal": 0, "test_anomaly": 0, "test_unlabelled": 0, "unusable": 0})
        if clip.split == TRAIN:
            row["train"] += 1
        elif clip.label == NORMAL:
            row["test_normal"] += 1
        elif clip.label == ANOMALY:
            row["test_anomaly"] += 1
        else:
            row["test_unlabelled"] += 1
        row["unusable"] += str(clip.path) in unusable
    summary.rows = list(rows.values())
    summary.classes = sorted({c.class_key for c in clips if c.split == TRAIN
                              and str(c.path) not in unusable})
    return summary


# --- command line ---------------------------------------------------------------------------


def _print_summary(summary: DataSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    a = summary.audio
    title = (f"dataset {summary.dataset}: {len(summary.classes)} classes, "
             f"{a.sample_rate} Hz, {a.clip_seconds:g} s clips")
    table = Table(title=title)
    columns = [("type", "machine_type"), ("ID", "machine_id"), ("train", "train"),
               ("test normal", "test_normal"), ("test anomaly", "test_anomaly"),
               ("unlabelled", "test_unlabelled")]
    if summary.decoded:
        columns.append(("unusable", "unusable"))
    for head, _ in columns:
        table.add_column(head, justify="left" if head in ("type", "ID") else "right")
    for row in summary.rows:
        table.add_row(*(str(row[key]) for _, key in columns))
    table.add_section()
    table.add_row("total", "", *(str(summary.total(key)) for _, key in columns[2:]))
    console.print(table)
    if not summary.problems:
        console.print("no problems found" + ("" if summary.decoded else " (files not decoded)"))
        return
    problems = Table(title="problems")
    for head in ("problem", "count", "examples"):
        problems.add_column(head, justify="right" if head == "count" else "left")
    examples: dict[str, list[str]] = {}
    for item, message in summary.problems:
        cat = message.split(":")[0]
        if len(examples.setdefault(cat, [])) < EXAMPLES_PER_CATEGORY:
            examples[cat].append(f"{item}: {message[len(cat) + 1:].strip()}")
    for cat, count in summary.counts.most_common():
        problems.add_row(cat, str(count), "\n".join(examples.get(cat, [])))
    console.print(problems)


@click.group("data")
def data_group() -> None:
    """Inspect datasets."""


@data_group.command("check")
@click.option("--dataset", "dataset_name", default=None,
              help="Registered dataset name (default: the run default).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="The dataset's folder (same as --set data.root=PATH).")
@click.option("--set", "sets", multiple=True, metavar="data.KEY=VALUE",
              help="A dataset option, e.g. --set data.types=fan,pump (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-decode", is_flag=True, help="Only list the files; do not decode them.")
@click.option("--strict", is_flag=True, help="Exit with status 2 when any problem is found.")
def check_command(dataset_name: str | None, data_root: Path | None, sets: tuple[str, ...],
                  as_json: bool, no_decode: bool, strict: bool) -> None:
    """List a dataset's clips per machine type and ID, decode them, report every problem.

    \b
    Examples:
      asdbench data check
      asdbench data check --dataset dcase2020 --data-root ~/data/dcase2020/dev
      asdbench data check --dataset folder --data-root ~/plant-recordings --json
    """
    from asdbench.config import COMPONENT_DEFAULTS, parse_sets
    from asdbench.plugins import get_registry

    name = dataset_name or COMPONENT_DEFAULTS["dataset"]
    options: dict[str, Any] = {}
    for key, value in parse_sets(sets).items():
        if not key.startswith("data."):
            raise AsdbenchError(f"--set {key}: 'data check' takes dataset options only "
                                "(data.KEY=VALUE)")
        options[key[len("data."):]] = value
    if data_root is not None:
        options["root"] = str(data_root)
    dataset = get_registry().create("dataset", name, options)
    summary = check_dataset(dataset, decode=not no_decode,
                            progress=not as_json and sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary)
    if strict and summary.problems:
        sys.exit(2)
