"""Reading one clip: decode, mono, resample, cut/pad to the clip length, sanity checks.

:func:`read_clip` is the only place audio files are decoded. Fatal problems raise
:class:`AudioError`; problems that are fixed on the fly (other sample rate, several channels,
shorter or longer than the clip length) are appended to ``notes`` as ``"category: detail"``
strings, so :class:`asdbench.data.DataReport` can count them by category.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from asdbench.data import AudioSpec
from asdbench.registry import AsdbenchError

# A clip holding less than this fraction of the clip length is rejected, not zero-padded:
# mostly padding would teach a model that silence is normal.
MIN_FRACTION = 0.5
# Peak below one 16-bit step: the clip is all zeros once stored in the int16 cache.
SILENCE_PEAK = 1.0 / 32768.0

# Categories of non-fatal notes (the text before ':').
RESAMPLED, MULTICHANNEL, PADDED, CUT = "resampled", "multi-channel", "padded", "cut"
# Categories of fatal problems.
UNREADABLE, EMPTY, TOO_SHORT, NOT_FINITE, SILENT = (
    "unreadable", "empty", "too short", "not finite", "silent")


class AudioError(AsdbenchError):
    """A clip that cannot be used; ``category`` is one of the fatal categories above."""

    def __init__(self, path: str | os.PathLike, category: str, detail: str) -> None:
        self.path, self.category, self.detail = str(path), category, detail
        super().__init__(f"{path}: {category}: {detail}")

    @property
    def problem(self) -> str:
        """The ``"category: detail"`` part, without the path (for a DataReport entry)."""
        return f"{self.category}: {self.detail}"


def resample(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of a 1-D float32 signal (torchaudio's windowed sinc)."""
    import torch
    import torchaudio.functional as AF

    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x)), orig_rate, new_rate)
    return y.numpy().astype(np.float32, copy=False)


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Keep the first ``num_samples`` samples (as DCASE does), zero-padding at the end."""
    if len(x) >= num_samples:
        return x[:num_samples]
    return np.concatenate([x, np.zeros(num_samples - len(x), dtype=x.dtype)])


def read_clip(path: str | os.PathLike, audio: AudioSpec, *, notes: list[str] | None = None,
              min_fraction: float = MIN_FRACTION) -> np.ndarray:
    """Decode ``path`` into float32 mono samples in [-1, 1), exactly ``audio.num_samples`` long.

    Several channels are averaged (``audio.channel`` None) or one is read (a file without
    that channel is an :class:`AudioError`); another sample rate is resampled to ``audio.sample_rate``;
    a longer clip is cut to its first ``audio.clip_seconds``; a shorter one is zero-padded,
    unless it holds less than ``min_fraction`` of the clip length. Raises :class:`AudioError`
    for a file that cannot be decoded, is empty, too short, silent or holds NaN/inf.
    Non-fatal fixes are appended to ``notes`` when given.
    """
    path = Path(path)
    want = audio.num_samples
    if not path.is_file():
        raise AudioError(path, UNREADABLE, "file not found")
    try:
        with sf.SoundFile(str(path)) as fh:
            rate, channels, frames = fh.samplerate, fh.channels, fh.frames
            # Read no more than needed: long recordings are cut anyway (+ margin for the filter).
            need = int(np.ceil(want * rate / audio.sample_rate)) + 64
            data = fh.read(frames=min(frames, need) if frames > 0 else -1,
                           dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        # libsndfile's own text repeats the path: keep only the reason.
        reason = getattr(exc, "error_string", "") or str(exc).strip().splitlines()[0]
        raise AudioError(path, UNREADABLE, reason) from None
    if data.shape[0] == 0:
        raise AudioError(path, EMPTY, "no samples")
    if not np.isfinite(data).all():
        raise AudioError(path, NOT_FINITE, "NaN or infinite samples")
    channel = getattr(audio, "channel", None)
    if channel is not None and channel >= channels:
        raise AudioError(path, UNREADABLE, f"{channels} channel(s), channel {channel} asked for")
    if channel is not None and channels > 1:
        data = data[:, channel:channel + 1]
        _note(notes, f"{MULTICHANNEL}: channel {channel} of {channels} read")
    elif channels > 1:
        data = data.mean(axis=1, dtype=np.float32, keepdims=True)
        _note(notes, f"{MULTICHANNEL}: {channels} channels averaged to mono")
    x = data[:, 0]
    duration = frames / rate if frames > 0 else len(x) / rate
    if rate != audio.sample_rate:
        x = resample(x, rate, audio.sample_rate)
        _note(notes, f"{RESAMPLED}: {rate} Hz to {audio.sample_rate} Hz")
    have = min(len(x), int(round(duration * audio.sample_rate)))
    if have < min_fraction * want:
        raise AudioError(path, TOO_SHORT, f"{duration:.2f} s, needs at least "
                         f"{min_fraction * audio.clip_seconds:.2f} s of {audio.clip_seconds:g} s")
    if have < want:
        _note(notes, f"{PADDED}: {duration:.2f} s zero-padded to {audio.clip_seconds:g} s")
    elif duration * audio.sample_rate > want + 0.5:
        _note(notes, f"{CUT}: {duration:.2f} s cut to {audio.clip_seconds:g} s")
    x = fit_length(x[:have], want)
    if np.abs(x).max() < SILENCE_PEAK:
        raise AudioError(path, SILENT, "all samples are zero")
    return np.ascontiguousarray(x, dtype=np.float32)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
