"""``asdbench data check``: what a dataset holds and what is wrong with it, before a run.

:func:`check_dataset` lists the clips, counts them per machine type, ID, split and label, and
(with ``decode=True``) decodes every clip through the waveform cache exactly as a run does, so
the check also fills the cache the run will use. Every problem found (missing or unlisted
files, unreadable, silent, too short clips, resampled or padded ones) is in its report.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from asdbench.data import ANOMALY, NORMAL, TEST, TRAIN, AudioSpec, Clip, DataReport
from asdbench.registry import AsdbenchError

# A run trains on at least this many clips (a batch of one would break BatchNorm).
MIN_TRAIN_CLIPS = 2
SKIPPED = "(clip skipped)"  # how the cache marks the problem of a clip it left out


@dataclass
class DataSummary:
    """Counts and problems of one dataset (see :func:`check_dataset`)."""

    dataset: str
    audio: AudioSpec
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per (type, ID)
    classes: list[str] = field(default_factory=list)
    report: DataReport = field(default_factory=DataReport)
    decoded: bool = False
    # why nothing can be trained or evaluated (the first cause), None when a run can start
    fatal: str | None = None

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
                "decoded": self.decoded, "usable": self.fatal is None, "fatal": self.fatal,
                "num_classes": len(self.classes),
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
    ``fatal`` of the summary says why no run could start, when none could.
    """
    audio = audio or dataset.audio
    clips = dataset.clips()
    summary = DataSummary(dataset=getattr(dataset, "name", type(dataset).__name__), audio=audio)
    summary.report.merge(dataset.report)
    if not clips:
        raise AsdbenchError(f"dataset '{summary.dataset}' lists no clips")
    reasons: dict[str, str] = {}  # unusable clip -> its problem category
    if decode:
        reasons = _decode_all(clips, audio, cache_dir, progress, summary.report)
        summary.decoded = True
    summary.rows = _rows(clips, reasons)
    summary.classes = sorted({c.class_key for c in clips if c.split == TRAIN
                              and str(c.path) not in reasons})
    summary.fatal = _fatal(clips, reasons, audio)
    return summary


def _decode_all(clips: list[Clip], audio: AudioSpec, cache_dir: str | os.PathLike | None,
                progress: bool, report: DataReport) -> dict[str, str]:
    """Decode every clip set as a run does; the problem category of each unusable clip."""
    from asdbench.cache import NothingDecoded, load_waveforms  # noqa: PLC0415 - torch: decoding only

    reasons: dict[str, str] = {}
    for group in _groups(clips).values():
        if not group:
            continue
        try:
            waves = load_waveforms(group, audio, cache_dir, on_error="skip", progress=progress)
        except NothingDecoded as exc:  # every clip of the set unusable: each one's cause
            for item, message in exc.skipped:
                report.add(item, message)
                reasons[item] = message.split(":")[0]
            continue
        report.merge(waves.report)
        kept = set(waves.kept)
        skipped = {item: message for item, message in waves.report.problems
                   if message.endswith(SKIPPED)}
        for i, c in enumerate(group):
            if i not in kept:
                reasons[str(c.path)] = skipped.get(str(c.path), "unreadable").split(":")[0]
    return reasons


def _rows(clips: list[Clip], unusable: dict[str, str]) -> list[dict[str, Any]]:
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
    return list(rows.values())


def _fatal(clips: list[Clip], unusable: dict[str, str], audio: AudioSpec) -> str | None:
    """Why a run could not train or evaluate on ``clips`` (the first cause), or None."""
    bad = [unusable[str(c.path)] for c in clips if str(c.path) in unusable]
    if len(bad) == len(clips) and len(set(bad)) == 1:
        return f"all {len(clips)} clips {_reason(bad[0], audio)}"
    train = [c for c in clips if c.split == TRAIN]
    usable = [c for c in train if str(c.path) not in unusable]
    if not usable:
        return f"no usable training clip: {_causes(train, unusable, audio)}"
    if len(usable) < MIN_TRAIN_CLIPS:
        return (f"only {len(usable)} usable training clip: a run needs at least "
                f"{MIN_TRAIN_CLIPS}")
    known = {c.class_key for c in usable}
    test = [c for c in clips if c.split == TEST and c.class_key in known]
    if not test:
        types = sorted({c.machine_type for c in usable})
        return (f"no test clips of the trained machines ({', '.join(types)}): nothing to "
                "evaluate (is the test/ folder missing?)")
    if all(str(c.path) in unusable for c in test):
        return f"no usable test clip: {_causes(test, unusable, audio)}"
    return None


def _reason(category: str, audio: AudioSpec) -> str:
    from asdbench.audio import TOO_SHORT  # noqa: PLC0415 - torch: not for `asdbench --help`

    if category == TOO_SHORT:
        return f"{category} for data.clip_seconds={audio.clip_seconds:g}"
    return category


def _causes(clips: list[Clip], unusable: dict[str, str], audio: AudioSpec) -> str:
    counts = Counter(unusable[str(c.path)] for c in clips)
    return ", ".join(f"{n} {_reason(cat, audio)}" for cat, n in counts.most_common())
