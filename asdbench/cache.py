"""Decode once, then memory-map: the waveform and feature caches.

Layout under the cache folder (``$ASDBENCH_CACHE`` or ``~/.cache/asdbench``)::

    waves/<key>/waves.i16      int16 [N, L] raw, row i = i-th kept clip
    waves/<key>/meta.json      shape, kept clip indices, data report
    waves/<key>/COMPLETE       completion marker, written last
    features/<key>/feats.f32   float32 [N, ...] raw (float32 as the authors keep log-Mel)
    features/<key>/meta.json
    features/<key>/COMPLETE

A waveform key hashes every clip's path, size and modification time (ns) in order, the audio
format (rate, length) and the cache format version, so a changed file or parameter gives a new
key. A feature key hashes the waveform key and the frontend's ``feature_key``. Every entry is
built in a temporary folder and renamed into place with its marker (:func:`atomic_dir`): an
interrupted build leaves nothing that a later run trusts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asdbench import audio as audio_io
from asdbench.atomic import atomic_write_text
from asdbench.data import AudioSpec, Clip, DataReport
from asdbench.progress import make_progress
from asdbench.registry import AsdbenchError

ENV_CACHE = "ASDBENCH_CACHE"
WAVES_VERSION = 1
FEATURES_VERSION = 2  # 2: float32 (float16 rounded log-Mel dB values by up to ~0.03)
# int16 storage: sample = round(x * 32768); a 16-bit WAV round-trips exactly.
INT16_SCALE = 32768.0
MARKER = "COMPLETE"
TMP_PREFIX = ".tmp-"
# Temporary folders older than this are left-overs of killed builds and are swept away.
STALE_SECONDS = 24 * 3600


def default_cache_dir() -> Path:
    """``$ASDBENCH_CACHE`` if set, else ``~/.cache/asdbench``."""
    env = os.environ.get(ENV_CACHE, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "asdbench"


# --- atomic folders -----------------------------------------------------------------------


def is_complete(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder finished by :func:`atomic_dir` (its marker is present)."""
    return (Path(path) / MARKER).is_file()


def sweep_stale(parent: str | os.PathLike, max_age: float = STALE_SECONDS) -> None:
    """Remove temporary folders under ``parent`` left behind by builds that were killed."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    now = time.time()
    for entry in parent.glob(f"{TMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if entry.is_dir() and now - entry.stat().st_mtime > max_age:
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, meta: dict[str, Any] | None = None) -> Iterator[Path]:
    """Build the folder ``target`` atomically.

    Yields a new temporary folder beside ``target`` to write into. When the block ends
    normally, the marker (``meta`` as JSON) is written last and the folder renamed to
    ``target``; when it raises, the temporary folder is deleted and ``target`` is untouched.
    A ``target`` without marker (an untrusted left-over) is replaced; a complete ``target``
    made meanwhile by a concurrent builder is kept and ours discarded (same key, same content).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}-{tag}")
    tmp.mkdir()
    try:
        yield tmp
        atomic_write_text(tmp / MARKER, json.dumps(meta or {}, sort_keys=True, default=str))
        if target.exists() and not is_complete(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not is_complete(target):  # not a lost race: a real failure
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _trusted(entry: Path) -> dict[str, Any] | None:
    """The meta of a complete cache entry, or None when it must be (re)built."""
    if not is_complete(entry):
        return None
    try:
        return json.loads((entry / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def _discard(entry: Path, damaged: bool) -> None:
    """Remove an entry found unusable before it is rebuilt.

    ``damaged``: it was complete but its data did not match its meta (truncated, edited).
    Otherwise only a folder without marker is removed: a complete one appearing meanwhile
    was published by a concurrent builder and is left alone.
    """
    if damaged or (entry.exists() and not is_complete(entry)):
        shutil.rmtree(entry, ignore_errors=True)


def _open_raw(path: Path, dtype, shape: tuple[int, ...]) -> np.memmap | None:
    """Read-only memory map of a raw array file, None when its size does not match."""
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    try:
        if path.stat().st_size != expected or expected == 0:
            return None
    except OSError:
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


# --- waveforms ----------------------------------------------------------------------------


@dataclass
class WaveSet:
    """Decoded clips: ``waves[i]`` (int16, ``/ 32768`` for floats) is the audio of ``clips[i]``.

    ``clips`` are the clips that could be decoded, in input order; ``report`` lists the ones
    skipped and the fixes applied (resampled, padded, ...); ``key`` names the cache entry.
    """

    waves: np.memmap
    clips: list[Clip]
    report: DataReport
    key: str
    audio: AudioSpec
    path: Path | None = None
    kept: list[int] = field(default_factory=list)  # index of each kept clip in the input list

    def __len__(self) -> int:
        return len(self.clips)

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """float32 waveforms of clips ``start:stop`` in [-1, 1)."""
        return torch.from_numpy(np.asarray(self.waves[start:stop], dtype=np.float32)
                                / np.float32(INT16_SCALE))


def _file_stamp(path: Path) -> tuple[str, int, int]:
    name = os.path.abspath(path)
    try:
        st = os.stat(name)
    except OSError:
        return name, -1, -1
    return name, st.st_size, st.st_mtime_ns


def waves_key(clips: Sequence[Clip], audio: AudioSpec,
              min_fraction: float = audio_io.MIN_FRACTION) -> str:
    """Cache key of decoded clips: file identities in order + audio format + format version."""
    h = hashlib.sha256()
    fmt = {"version": WAVES_VERSION, "sample_rate": audio.sample_rate,
           "num_samples": audio.num_samples, "min_fraction": min_fraction, "scale": INT16_SCALE}
    if getattr(audio, "channel", None) is not None:  # averaged channels keep their old keys
        fmt["channel"] = audio.channel
    h.update(json.dumps(fmt, sort_keys=True).encode())
    for clip in clips:
        name, size, mtime = _file_stamp(Path(clip.path))
        h.update(f"\n{name}\0{size}\0{mtime}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


def _decode(path: Path, audio: AudioSpec, min_fraction: float):
    """(int16 row or None, notes, AudioError or None) of one clip (runs in worker threads)."""
    notes: list[str] = []
    try:
        x = audio_io.read_clip(path, audio, notes=notes, min_fraction=min_fraction)
    except audio_io.AudioError as exc:
        return None, notes, exc
    row = np.clip(np.rint(x * INT16_SCALE), -32768, 32767).astype(np.int16)
    return row, notes, None


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class NothingDecoded(AsdbenchError):
    """No clip of a set could be used; ``skipped`` holds ``(path, "category: detail")`` of
    each, so a caller can count the real causes."""

    def __init__(self, num_clips: int, skipped: list[tuple[str, str]]) -> None:
        self.skipped = skipped
        first = skipped[0] if skipped else ("?", "?")
        super().__init__(f"none of the {num_clips} clips could be decoded, e.g. "
                         f"{first[0]}: {first[1]}")


def load_waveforms(clips: list[Clip], audio: AudioSpec, cache_dir: str | os.PathLike | None = None,
                   *, on_error: str = "skip", progress: bool = True,
                   min_fraction: float = audio_io.MIN_FRACTION) -> WaveSet:
    """Decode ``clips`` once into an int16 cache and memory-map it.

    ``on_error="skip"`` drops clips that cannot be used (listed in ``report``);
    ``on_error="fail"`` raises :class:`asdbench.audio.AudioError` for the first one (and
    :class:`AsdbenchError` when a cached entry had skipped clips). A second call with the same
    files and audio format decodes nothing.
    """
    if on_error not in ("skip", "fail"):
        raise AsdbenchError(f"on_error must be 'skip' or 'fail', got '{on_error}'")
    if not clips:
        raise AsdbenchError("no clips to load")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = waves_key(clips, audio, min_fraction)
    entry = cache_dir / "waves" / key
    L = audio.num_samples
    meta = _trusted(entry)
    waves = None
    if meta is not None and meta.get("version") == WAVES_VERSION:
        waves = _open_raw(entry / "waves.i16", np.int16, (len(meta["kept"]), L))
    if waves is None:
        _discard(entry, damaged=meta is not None)
        meta = _build_waves(clips, audio, entry, key, on_error, progress, min_fraction)
        waves = _open_raw(entry / "waves.i16", np.int16, (len(meta["kept"]), L))
        if waves is None:  # pragma: no cover - a concurrent writer left a different entry
            raise AsdbenchError(f"waveform cache {entry} is inconsistent; delete it and retry")
    report = DataReport()
    for item, message in meta["problems"]:
        report.add(item, message)
    if on_error == "fail" and meta["skipped"]:
        item, message = meta["skipped"][0]
        raise AsdbenchError(f"{item}: {message} ({len(meta['skipped'])} clip(s) unusable)")
    kept = list(meta["kept"])
    return WaveSet(waves=waves, clips=[clips[i] for i in kept], report=report, key=key,
                   audio=audio, path=entry, kept=kept)


def _build_waves(clips, audio, entry, key, on_error, progress, min_fraction) -> dict[str, Any]:
    kept: list[int] = []
    problems: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    paths = [Path(c.path) for c in clips]
    with atomic_dir(entry, {"key": key}) as tmp:
        with open(tmp / "waves.i16", "wb") as out, make_progress(progress) as bar, \
                ThreadPoolExecutor(_workers()) as pool:
            task = bar.add_task(f"decoding {len(clips)} clips", total=len(clips))
            # Bounded look-ahead keeps memory flat while the threads overlap file reads.
            window = 4 * _workers()
            pending = [pool.submit(_decode, p, audio, min_fraction) for p in paths[:window]]
            for i in range(len(paths)):
                row, notes, error = pending[i].result()
                pending[i] = None  # free the row
                if i + window < len(paths):
                    pending.append(pool.submit(_decode, paths[i + window], audio, min_fraction))
                name = audio_io.display_path(paths[i])
                for note in notes:
                    problems.append((name, note))
                if error is not None:
                    if on_error == "fail":
                        for f in pending[i + 1:]:
                            if f is not None:
                                f.cancel()
                        raise error
                    message = f"{error.problem} (clip skipped)"
                    problems.append((name, message))
                    skipped.append((name, message))
                else:
                    out.write(row.tobytes())
                    kept.append(i)
                bar.advance(task)
        if not kept:
            raise NothingDecoded(len(clips), skipped)
        meta = {"version": WAVES_VERSION, "key": key, "sample_rate": audio.sample_rate,
                "num_samples": audio.num_samples, "kept": kept, "problems": problems,
                "skipped": skipped, "num_clips": len(clips)}
        (tmp / "meta.json").write_text(json.dumps(meta))
    return meta


# --- features -----------------------------------------------------------------------------


def features_key(waves: WaveSet, feature_key: str) -> str:
    blob = json.dumps({"version": FEATURES_VERSION, "waves": waves.key, "feature": feature_key})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_features(waves: WaveSet, fn: Callable[[torch.Tensor], torch.Tensor], feature_key: str,
                  cache_dir: str | os.PathLike | None = None, batch_size: int = 64,
                  progress: bool = True) -> np.memmap:
    """``fn`` applied to every cached waveform (float32 ``[B, L]`` batches), stored float32.

    Returns a read-only memory map ``[N, ...]`` (``[N, F, T]`` for a frontend's features).
    ``feature_key`` must change whenever ``fn`` would give other values.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = features_key(waves, feature_key)
    entry = cache_dir / "features" / key
    meta = _trusted(entry)
    if meta is not None and meta.get("version") == FEATURES_VERSION:
        feats = _open_raw(entry / "feats.f32", np.float32, tuple(meta["shape"]))
        if feats is not None:
            return feats
    _discard(entry, damaged=meta is not None)
    n = len(waves)
    shape: tuple[int, ...] = ()
    with atomic_dir(entry, {"key": key}) as tmp:
        with open(tmp / "feats.f32", "wb") as out, make_progress(progress) as bar, \
                torch.no_grad():
            task = bar.add_task(f"computing features of {n} clips", total=n)  # not the key
            for start in range(0, n, batch_size):
                y = fn(waves.batch(start, min(n, start + batch_size)))
                y = y.detach().float().cpu().numpy()
                if not np.isfinite(y).all():
                    raise AsdbenchError(f"features '{feature_key}' are not finite "
                                        f"for clip {waves.clips[start].path} or its batch")
                shape = shape or tuple(y.shape[1:])
                out.write(np.ascontiguousarray(y).tobytes())
                bar.advance(task, len(y))
        meta = {"version": FEATURES_VERSION, "key": key, "feature_key": feature_key,
                "waves_key": waves.key, "shape": [n, *shape]}
        (tmp / "meta.json").write_text(json.dumps(meta))
    feats = _open_raw(entry / "feats.f32", np.float32, (n, *shape))
    if feats is None:  # pragma: no cover
        raise AsdbenchError(f"feature cache {entry} is inconsistent; delete it and retry")
    return feats
