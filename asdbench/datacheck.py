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
