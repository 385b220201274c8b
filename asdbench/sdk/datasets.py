"""Base classes and helpers for dataset plugins: option parsing, listing audio folders, a
dataset listed lazily from disk and one generated once into the cache."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asdbench.data import AudioSpec, Clip, DataReport
from asdbench.errors import AsdbenchError
from asdbench.sdk.helpers import atomic_dir, cache_dir, is_complete, progress

if TYPE_CHECKING:
    import numpy as np

PROTOCOLS = ("dcase2020", "pooled")
AUDIO_SUFFIXES = (".wav", ".flac")


def parse_types(value: Any, option: str = "data.types") -> list[str]:
    """``"fan, pump"`` or ``["fan", "pump"]`` → ``["fan", "pump"]`` (order kept, no duplicates)."""
    if value is None:
        return []
    if not isinstance(value, str | list | tuple):
        raise AsdbenchError(f"{option} must be comma-separated machine type names (a string) "
                            f"or a list of them; got {value!r}")
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        name = str(item).strip()
        if not name:
            continue
        if "/" in name or "\\" in name or name in (".", ".."):
            raise AsdbenchError(f"{option}: '{name}' is not a machine type name")
        if name not in out:
            out.append(name)
    return out


def audio_spec(options: dict[str, Any], dataset: str) -> AudioSpec:
    """The :class:`AudioSpec` of ``data.sample_rate`` and ``data.clip_seconds``, checked."""
    try:
        rate, seconds = int(options["sample_rate"]), float(options["clip_seconds"])
    except (TypeError, ValueError):
        raise AsdbenchError(f"{dataset}: data.sample_rate must be an integer and "
                            "data.clip_seconds a number") from None
    if rate < 1000 or seconds <= 0:
        raise AsdbenchError(f"{dataset}: data.sample_rate must be >= 1000 and "
                            f"data.clip_seconds > 0 (got {rate}, {seconds})")
    return AudioSpec(rate, seconds)


def audio_files(folder: Path) -> list[Path]:
    """Audio files directly in ``folder``, sorted by name (deterministic clip order)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES), key=lambda p: p.name)


def subfolders(folder: Path) -> list[Path]:
    """Visible subfolders of ``folder``, sorted by name (none when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


_ID_IN_NAME = re.compile(r"(?:^|_)(?:id|section)_([0-9A-Za-z]+)(?:_|$)")


def id_from_name(stem: str) -> str | None:
    """``normal_id_03_00000012`` → ``"03"``; ``section_00_source_...`` → ``"00"``; else None."""
    m = _ID_IN_NAME.search(stem)
    return m.group(1) if m else None


def join(names: Iterable[str]) -> str:
    """``"a, b"`` for messages (``"none"`` when empty)."""
    return ", ".join(names) or "none"


class ListedDataset:
    """A dataset whose clips are listed from disk on first use, then kept.

    Subclasses implement ``_list(report) -> list[Clip]``; ``clips()`` and ``report`` trigger it.
    """

    name = ""
    protocols = PROTOCOLS

    def __init__(self, audio: AudioSpec) -> None:
        self.audio = audio
        self._clips: list[Clip] | None = None
        self._report = DataReport()

    def _list(self, report: DataReport) -> list[Clip]:  # pragma: no cover - abstract
        raise NotImplementedError

    def clips(self) -> list[Clip]:
        if self._clips is None:
            report = DataReport()
            self._clips = self._list(report)
            self._report = report
        return list(self._clips)

    @property
    def report(self) -> DataReport:
        self.clips()
        return self._report

    @property
    def classes(self) -> list[str]:
        return sorted({c.class_key for c in self.clips() if c.split == "train"})


def write_wavs(folder: Path, clips: Iterable[tuple[str, np.ndarray]], total: int,
               sample_rate: int, what: str, show_progress: bool = True) -> None:
    """Write ``(relative path, int16 samples)`` pairs as 16-bit WAVs under ``folder``, with a
    progress bar of ``total`` "generating <total> <what>" (``clips`` may be a lazy generator)."""
    import soundfile as sf  # here: only generators write audio

    with progress(show_progress) as bar:
        task = bar.add_task(f"generating {total} {what}", total=total)
        for rel, samples in clips:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), samples, sample_rate, subtype="PCM_16")
            bar.advance(task)


class GeneratedDataset(ListedDataset):
    """A dataset written once as WAVs by a seeded generator into ``<base>/<name>/<key>``.

    Subclasses set ``self.plan`` (a dataclass of everything that decides the files),
    ``version`` (bumped when the generator's output changes) and ``version_field`` (its name in
    the folder's metadata), call :meth:`_set_base`, and implement :meth:`write`.
    """

    version: int
    version_field: str

    def _set_base(self, options: dict[str, Any], progress: bool) -> None:
        root = str(options.get("root") or "").strip()
        self.base = Path(root).expanduser() if root else cache_dir()
        self.progress = progress

    def write(self, folder: Path) -> None:
        """Generate the WAV tree into the empty ``folder``."""
        raise NotImplementedError

    @property
    def key(self) -> str:
        """Hash of everything that determines the generated files."""
        blob = json.dumps({"version": self.version, "plan": self.plan.__dict__,
                           "sample_rate": self.audio.sample_rate,
                           "num_samples": self.audio.num_samples}, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def folder(self) -> Path:
        return self.base / self.name / self.key

    def ensure(self) -> Path:
        """Generate the WAV tree unless a complete one exists; returns its folder."""
        if not is_complete(self.folder):
            meta = {self.version_field: self.version, **self.plan.__dict__,
                    "sample_rate": self.audio.sample_rate,
                    "clip_seconds": self.audio.clip_seconds}
            with atomic_dir(self.folder, meta) as tmp:
                self.write(tmp)
        return self.folder
