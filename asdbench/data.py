"""Data model shared by dataset plugins and the engine: audio format, clips, data reports."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from asdbench.errors import AsdbenchError

TRAIN, TEST = "train", "test"
NORMAL, ANOMALY = 0, 1
# Test sets, a clip's attribute ``set``: never evaluated together.
DEV, EVAL = "dev", "eval"
DEFAULT_SET = DEV  # the set of a clip whose dataset names none
# Bounds of the audio format, checked before anything is allocated: a clip is at most
# MAX_CLIP_SAMPLES samples (512 MiB as float32), e.g. 10 minutes at 192 kHz.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384_000
MAX_CLIP_SAMPLES = 2**27


@dataclass(frozen=True)
class AudioSpec:
    """Sample rate and clip length every clip is brought to before features are computed;
    ``channel``: the channel read from a multi-channel file (0: the first, left), None
    averages them."""

    sample_rate: int = 16000
    clip_seconds: float = 10.0
    channel: int | None = None

    def __post_init__(self) -> None:
        rate, seconds = self.sample_rate, self.clip_seconds
        if (isinstance(rate, bool) or not isinstance(rate, int)
                or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE):
            raise AsdbenchError(f"data.sample_rate must be a whole number of Hz from "
                                f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}; got {rate!r}")
        if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                or not 0 < seconds < float("inf")):
            raise AsdbenchError(f"data.clip_seconds must be a number above 0; got {seconds!r}")
        if rate * seconds > MAX_CLIP_SAMPLES:
            raise AsdbenchError(f"data.clip_seconds must be at most "
                                f"{MAX_CLIP_SAMPLES / rate:g} s at {rate} Hz (a clip of at "
                                f"most {MAX_CLIP_SAMPLES} samples); got {seconds!r}")

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))


@dataclass(frozen=True)
class Clip:
    """One recording on disk.

    ``machine_id`` is the ID (DCASE 2020) or section (2021+); one class is trained per
    ``(machine_type, machine_id)`` unless a dataset says otherwise via ``class_key``.
    ``label`` is ``NORMAL``/``ANOMALY`` (``None`` when unknown, e.g. unlabelled eval files).
    ``name`` is the file name used in official submission files (defaults to the file name).
    ``domain`` is "source"/"target" (DCASE 2021+), else "".
    """

    path: Path
    machine_type: str
    machine_id: str
    split: str
    label: int | None = NORMAL
    domain: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    name: str = ""
    # A finer training class than (type, ID), e.g. a DCASE 2022+ attribute combination;
    # metrics still group by ``machine_id``.
    subclass: str = ""

    @property
    def file_name(self) -> str:
        return self.name or Path(self.path).name

    @property
    def class_key(self) -> str:
        key = f"{self.machine_type}/{self.machine_id}"
        return f"{key}/{self.subclass}" if self.subclass else key


@dataclass
class DataReport:
    """Problems found while listing or decoding a dataset; printed by ``asdbench data check``."""

    problems: list[tuple[str, str]] = field(default_factory=list)  # (path or item, message)
    counts: Counter = field(default_factory=Counter)  # e.g. ("missing listed file",) -> n

    def add(self, item: str | Path, message: str) -> None:
        """Record a problem; a path is kept as printable text (odd bytes escaped)."""
        text = os.fsencode(item).decode("utf-8", "backslashreplace")
        self.problems.append((text, message))
        self.counts[message.split(":")[0]] += 1

    def merge(self, other: DataReport) -> None:
        self.problems.extend(other.problems)
        self.counts.update(other.counts)

    def __bool__(self) -> bool:  # truthy when there is something to report
        return bool(self.problems)
