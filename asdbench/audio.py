"""Reading one clip: decode, mono, resample, cut/pad to the clip length, sanity checks.

:func:`read_clip` is the only place audio files are decoded, for training (``run``, through
the cache) and for scoring (``score``) alike. Fatal problems raise :class:`AudioError`;
problems that are fixed on the fly (other sample rate, several channels, shorter or longer
than the clip length, samples beyond full scale) are appended to ``notes`` as
``"category: detail"`` strings, so :class:`asdbench.data.DataReport` can count them by
category. File names are handled as the bytes they are: a name that is not UTF-8 is shown
with its odd bytes escaped (:func:`display_path`).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from asdbench.data import AudioSpec
from asdbench.registry import AsdbenchError

# A clip holding less than this fraction of the clip length is rejected, not zero-padded:
# mostly padding would teach a model that silence is normal.
MIN_FRACTION = 0.5
# Peak below one 16-bit step: the clip is all zeros once stored in the int16 cache.
SILENCE_PEAK = 1.0 / 32768.0

# The largest sample value kept: a float WAV beyond full scale is clipped to what a 16-bit
# sample holds, [-1, 32767/32768], the range of the int16 cache training reads.
FULL_SCALE = 32767 / 32768
# Resampling ratios are reduced to p/q with p, q at most this (see :func:`resample`).
MAX_RATIO_TERM = 1000
# File sample rates read at all (Hz), and the most samples read from one file (1 GiB as
# float32); beyond either a file is refused in one line, before anything is allocated.
MIN_FILE_RATE, MAX_FILE_RATE = 100, 1_000_000
MAX_READ_SAMPLES = 2**28

# Categories of non-fatal notes (the text before ':').
RESAMPLED, MULTICHANNEL, PADDED, CUT, CLIPPED = (
    "resampled", "multi-channel", "padded", "cut", "clipped")
KEPT = (RESAMPLED, MULTICHANNEL, PADDED, CUT, CLIPPED)  # a clip with these notes is used
# Categories of fatal problems.
UNREADABLE, EMPTY, TOO_SHORT, NOT_FINITE, SILENT, BAD_RATE = (
    "unreadable", "empty", "too short", "not finite", "silent", "unsupported sample rate")


def display_path(path: str | os.PathLike) -> str:
    """A path as text that can always be printed and written: bytes that are not UTF-8 (a
    file name from another system) appear as ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class AudioError(AsdbenchError):
    """A clip that cannot be used; ``category`` is one of the fatal categories above."""

    def __init__(self, path: str | os.PathLike, category: str, detail: str) -> None:
        self.path, self.category, self.detail = display_path(path), category, detail
        super().__init__(f"{self.path}: {category}: {detail}")

    @property
    def problem(self) -> str:
        """The ``"category: detail"`` part, without the path (for a DataReport entry)."""
        return f"{self.category}: {self.detail}"


def resample_ratio(orig_rate: int, new_rate: int) -> tuple[int, int]:
    """``(p, q)``: the resampling ratio ``new_rate / orig_rate`` as a fraction whose terms
    are at most :data:`MAX_RATIO_TERM`: exact when it has one (48000 -> 16000: 1/3; 44100 ->
    16000: 160/441), else the nearest such fraction, a rational approximation (44101 ->
    16000: 119/328, 3.6e-6 off the true ratio; 16001 -> 16000: 1/1, 6.2e-5 off, i.e. near
    rates are snapped). Never more than 1e-3 off: a pitch change under 0.02 semitones."""
    ratio = Fraction(new_rate, orig_rate)
    if max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
        if ratio <= 1:
            ratio = ratio.limit_denominator(MAX_RATIO_TERM)
        else:
            ratio = 1 / (1 / ratio).limit_denominator(MAX_RATIO_TERM)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of a 1-D float32 signal (torchaudio's windowed sinc), in
    bounded memory for any pair of rates: by the rational approximation of
    :func:`resample_ratio` (torchaudio's kernel grows with the product of the ratio's terms:
    16001 Hz taken exactly would need gigabytes)."""
    p, q = resample_ratio(orig_rate, new_rate)
    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x)), q, p)
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
    Samples beyond full scale (float WAVs) are clipped to [-1, 32767/32768], as the int16
    cache holds them. Non-fatal fixes are appended to ``notes`` when given.
    """
    path = Path(path)
    want = audio.num_samples
    if not path.is_file():
        raise AudioError(path, UNREADABLE, "file not found")
    try:
        with sf.SoundFile(os.fsencode(path)) as fh:  # bytes: any file name opens
            rate, channels, frames = fh.samplerate, fh.channels, fh.frames
            if not MIN_FILE_RATE <= rate <= MAX_FILE_RATE:
                raise AudioError(path, BAD_RATE, f"{rate} Hz (read: {MIN_FILE_RATE} to "
                                 f"{MAX_FILE_RATE} Hz)")
            # Read no more than needed: long recordings are cut anyway (+ margin for the
            # filter); a file that does not say its length is read as far as needed too.
            need = int(np.ceil(want * rate / audio.sample_rate)) + 64
            if need * channels > MAX_READ_SAMPLES:
                raise AudioError(path, UNREADABLE, f"{channels} channels at {rate} Hz: a clip "
                                 f"would need {need * channels} samples, more than "
                                 f"{MAX_READ_SAMPLES} (shorten data.clip_seconds)")
            data = fh.read(frames=min(frames, need) if frames > 0 else need,
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
        try:
            x = resample(x, rate, audio.sample_rate)
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise AudioError(path, UNREADABLE, f"cannot resample {rate} Hz to "
                             f"{audio.sample_rate} Hz ({type(exc).__name__})") from None
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
    peak = float(np.abs(x).max())
    if peak < SILENCE_PEAK:
        raise AudioError(path, SILENT, "all samples are zero")
    if peak > FULL_SCALE:
        x = np.clip(x, -1.0, FULL_SCALE)
        if peak > 1.0:
            _note(notes, f"{CLIPPED}: peak {peak:.3g} clipped to full scale")
    return np.ascontiguousarray(x, dtype=np.float32)


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
