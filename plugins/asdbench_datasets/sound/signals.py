"""Signal building blocks of the sound generators (pure functions of a random generator):
band-limited and slowly varying noise, harmonic series of a running shaft phase, resonant and
noise bursts, event times, peak limiting and 16-bit conversion."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def spectral_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float,
                   tilt_db_per_octave: float = 0.0,
                   response: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Unit-RMS Gaussian noise band-limited to about [lo, hi] Hz with a spectral tilt and an
    optional magnitude ``response(f)`` (e.g. a structure's resonances)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    fl = np.maximum(f, 1.0)
    # Smooth band edges (4th-order-like roll-off on a log axis) avoid ringing.
    shape = 1.0 / (1.0 + (lo / fl) ** 4) / (1.0 + (fl / hi) ** 4)
    shape = shape * (fl / 1000.0) ** (tilt_db_per_octave / 6.0206)
    if response is not None:
        shape = shape * response(f)
    x = np.fft.irfft(spec * shape, n)
    return x / rms(x)


def shaped_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float,
                 tilt_db_per_octave: float = 0.0) -> np.ndarray:
    """Unit-RMS Gaussian noise band-limited to about [lo, hi] Hz with a spectral tilt."""
    return spectral_noise(rng, n, sr, lo, hi, tilt_db_per_octave)


def smooth_walk(rng: np.random.Generator, n: int, sr: int, cutoff_hz: float) -> np.ndarray:
    """Unit-std random signal varying no faster than ``cutoff_hz`` (speed wander, envelopes)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= np.exp(-0.5 * (f / cutoff_hz) ** 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-20)


def harmonic_series(phase: np.ndarray, orders: np.ndarray, amps: np.ndarray,
                    phases: np.ndarray) -> np.ndarray:
    """``sum_k amps[k] * sin(orders[k] * phase + phases[k])`` for a running shaft phase."""
    out = np.zeros_like(phase)
    for order, amp, ph in zip(orders, amps, phases, strict=True):
        out += amp * np.sin(order * phase + ph)
    return out


def resonant_bursts(n: int, sr: int, times: np.ndarray, amps: np.ndarray, freq: float,
                    decay_s: float, rng: np.random.Generator) -> np.ndarray:
    """Impulses at ``times`` (s), each ringing a resonance of ``freq`` Hz for ~``decay_s``."""
    out = np.zeros(n)
    length = min(n, int(6 * decay_s * sr) + 1)
    t = np.arange(length) / sr
    for time, amp in zip(times, amps, strict=True):
        start = int(time * sr)
        if start >= n or start < 0:
            continue
        stop = min(n, start + length)
        f = freq * (1.0 + 0.03 * rng.standard_normal())
        ring = np.exp(-t / decay_s) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        out[start:stop] += amp * ring[:stop - start]
    return out


def noise_bursts(n: int, sr: int, times: np.ndarray, amps: np.ndarray, decay_s: float,
                 band: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Short decaying bursts of band-limited noise at ``times`` (rattles, crackle)."""
    carrier = shaped_noise(rng, n, sr, *band)
    env = np.zeros(n)
    length = min(n, int(6 * decay_s * sr) + 1)
    decay = np.exp(-np.arange(length) / (decay_s * sr))
    for time, amp in zip(times, amps, strict=True):
        start = int(time * sr)
        if 0 <= start < n:
            stop = min(n, start + length)
            env[start:stop] += amp * decay[:stop - start]
    return carrier * env


def poisson_times(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    return np.sort(rng.uniform(0.0, duration, rng.poisson(rate * duration)))


def periodic_times(rng: np.random.Generator, period: float, duration: float,
                   jitter: float, start: float | None = None) -> np.ndarray:
    """Event times every ``period`` s (relative timing jitter ``jitter``), from ``start``
    (default: a random phase within the first period)."""
    times, t = [], rng.uniform(0.0, period) if start is None else start
    while t < duration:
        times.append(t)
        t += period * max(0.2, 1.0 + jitter * rng.standard_normal())
    return np.asarray(times)


def limit_peak(x: np.ndarray, peak_max: float = 0.98) -> np.ndarray:
    """Scale ``x`` down to a peak of ``peak_max`` if it is louder (no clipping in int16)."""
    peak = np.abs(x).max()
    return x * (peak_max / peak) if peak > peak_max else x


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)
