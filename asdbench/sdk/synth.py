"""Building blocks of machine-like sounds with realistic faults, for dataset generators.

Pure functions of a ``numpy`` random generator, so a generation is bit-identical for the same
seed: band-limited and slowly varying noise, harmonic series of a running shaft phase,
resonant and noise bursts, the per-type nominal machines (:func:`make_machine` adds an ID's
seeded deviations), :func:`render` of one clip with an optional fault and the conversion to
16-bit PCM. The shipped ``synthetic`` and ``synthetic-shift`` datasets are built from them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from asdbench.data import ANOMALY, AudioSpec
from asdbench.errors import AsdbenchError

TYPES = ("fan", "pump", "gearbox", "valve")
# The faults of each type with their full-strength level: dB relative to the normal sound for
# added sounds, the largest relative speed error for "drift", a scale for "sticking". Calibrated
# so that a simple log-Mel baseline finds each fault sometimes but not always (see the README).
FAULTS: dict[str, dict[str, float]] = {
    "fan": {"imbalance": -14.0, "bearing": -16.0, "rattle": -15.0, "drift": 0.05},
    "pump": {"bearing": -24.0, "cavitation": -30.0, "imbalance": -18.0, "drift": 0.035},
    "gearbox": {"tooth": -28.0, "bearing": -30.0, "rattle": -28.0, "drift": 0.025},
    "valve": {"sticking": 1.0, "leak": -30.0, "rattle": -21.0, "drift": 0.05},
}
# Overall level in dBFS and the spread of fault strengths over the IDs of a type.
LEVEL_DBFS = -26.0
ID_STRENGTHS = (1.0, 0.4)


# --- signal building blocks (pure functions of a random generator) ------------------------


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def shaped_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float,
                 tilt_db_per_octave: float = 0.0) -> np.ndarray:
    """Unit-RMS Gaussian noise band-limited to about [lo, hi] Hz with a spectral tilt."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    fl = np.maximum(f, 1.0)
    # Smooth band edges (4th-order-like roll-off on a log axis) avoid ringing.
    band = 1.0 / (1.0 + (lo / fl) ** 4) / (1.0 + (fl / hi) ** 4)
    tilt = (fl / 1000.0) ** (tilt_db_per_octave / 6.0206)
    x = np.fft.irfft(spec * band * tilt, n)
    return x / rms(x)


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
                   jitter: float) -> np.ndarray:
    """Event times every ``period`` s (relative timing jitter ``jitter``), random start."""
    times, t = [], rng.uniform(0.0, period)
    while t < duration:
        times.append(t)
        t += period * (1.0 + jitter * rng.standard_normal())
    return np.asarray(times)


# --- machines ----------------------------------------------------------------------------


@dataclass
class Machine:
    """The sound of one machine ID (its fixed parameters)."""

    machine_type: str
    rot_hz: float  # shaft rotation frequency
    orders: np.ndarray  # orders of the tonal series (multiples of rot_hz)
    amps_db: np.ndarray  # their levels
    noise_band: tuple[float, float]
    noise_tilt: float  # dB/octave
    noise_db: float  # flow noise level relative to the tonal part
    noise_am: float  # depth of the flow noise modulation by the rotation
    am_order: float  # the order that modulates the flow noise
    event_period: float  # 0 = no periodic events
    event_freq: float
    event_decay: float
    event_db: float
    gain_db: float
    strength: float  # fault strength multiplier of this ID (small = hard ID)


def _base(machine_type: str) -> dict[str, Any]:
    """Nominal parameters of each machine type (before the per-ID variation)."""
    if machine_type == "fan":  # 7 blades: strong blade-pass harmonics, loud broadband flow
        orders = np.r_[1, 2, 3, 7 * np.arange(1, 9)]
        amps = np.r_[-22, -26, -28, -4.0 * np.arange(8)]
        return dict(rot_hz=24.0, orders=orders, amps_db=amps, noise_band=(80, 6000),
                    noise_tilt=-3.0, noise_db=-2.0, noise_am=0.25, am_order=7,
                    event_period=0.0, event_freq=0, event_decay=0, event_db=-99)
    if machine_type == "pump":  # motor harmonics, vane pass (5 vanes) boosted, fluid noise
        orders = np.arange(1, 17).astype(float)
        amps = -2.0 * (orders - 1) + np.where(orders % 5 == 0, 6.0, 0.0)
        return dict(rot_hz=48.0, orders=orders, amps_db=amps, noise_band=(250, 3500),
                    noise_tilt=-2.0, noise_db=-6.0, noise_am=0.35, am_order=5,
                    event_period=0.0, event_freq=0, event_decay=0, event_db=-99)
    if machine_type == "gearbox":  # 27-tooth mesh with sidebands at +-1 shaft order
        mesh = 27.0
        k = np.arange(1, 5)
        orders = np.r_[1, 2, mesh * k, mesh * k - 1, mesh * k + 1]
        amps = np.r_[-15, -20, -6.0 * (k - 1), -14 - 6.0 * (k - 1), -15 - 6.0 * (k - 1)]
        return dict(rot_hz=18.0, orders=orders, amps_db=amps, noise_band=(50, 5000),
                    noise_tilt=-4.0, noise_db=-14.0, noise_am=0.1, am_order=1,
                    event_period=0.0, event_freq=0, event_decay=0, event_db=-99)
    if machine_type == "valve":  # a solenoid clicking over a quiet hydraulic hum
        orders = np.arange(1, 7).astype(float)
        amps = -3.0 * (orders - 1)
        return dict(rot_hz=30.0, orders=orders, amps_db=amps, noise_band=(200, 4000),
                    noise_tilt=-3.0, noise_db=-8.0, noise_am=0.0, am_order=1,
                    event_period=0.45, event_freq=1800.0, event_decay=0.006, event_db=10.0)
    raise AsdbenchError(f"synthetic: unknown machine type '{machine_type}' "
                        f"(available: {', '.join(TYPES)})")


def stable_code(name: str) -> int:
    """A number for a name that is the same in every process (unlike hash())."""
    return zlib.crc32(name.encode())


def make_machine(machine_type: str, id_index: int, num_ids: int, seed: int) -> Machine:
    """One ID of a type: the nominal machine with small, seeded deviations."""
    base = _base(machine_type)
    rng = np.random.default_rng([seed, stable_code(machine_type), id_index, 7])
    order_rng = np.random.default_rng([seed, stable_code(machine_type), 11])
    strengths = np.geomspace(*ID_STRENGTHS, num_ids) if num_ids > 1 else np.ones(1)
    strength = float(strengths[order_rng.permutation(num_ids)[id_index]])
    # IDs about 2 % apart in speed: close enough that an anomaly can sound like a neighbour.
    offset = id_index - (num_ids - 1) / 2
    return Machine(
        machine_type=machine_type,
        rot_hz=base["rot_hz"] * (1.0 + 0.02 * offset + 0.003 * rng.standard_normal()),
        orders=base["orders"],
        amps_db=base["amps_db"] + 1.5 * rng.standard_normal(len(base["orders"])),
        noise_band=(base["noise_band"][0] * (1 + 0.05 * rng.standard_normal()),
                    base["noise_band"][1] * (1 + 0.05 * rng.standard_normal())),
        noise_tilt=base["noise_tilt"] + 0.5 * rng.standard_normal(),
        noise_db=base["noise_db"] + 1.5 * rng.standard_normal(),
        noise_am=base["noise_am"],
        am_order=base["am_order"],
        event_period=base["event_period"] * (1.0 + 0.04 * offset),
        event_freq=base["event_freq"] * (1.0 + 0.05 * rng.standard_normal()),
        event_decay=base["event_decay"],
        event_db=base["event_db"] + rng.standard_normal(),
        gain_db=rng.uniform(-3.0, 3.0),
        strength=strength,
    )


def render(machine: Machine, rng: np.random.Generator, audio: AudioSpec,
           fault: str | None = None, severity: float = 0.0) -> np.ndarray:
    """One clip of ``machine`` (float64 in [-1, 1]); with ``fault``, of that fault's strength."""
    sr, n = audio.sample_rate, audio.num_samples
    duration = n / sr
    m = machine
    s = float(severity)
    # Operating point of this recording: speed, levels and phases vary a little clip to clip.
    speed = 1.0 + 0.004 * rng.standard_normal() + 0.002 * smooth_walk(rng, n, sr, 1.0)
    level = FAULTS[m.machine_type].get(fault, 0.0) if fault else 0.0
    if fault == "drift":  # the speed is off by a few % and drifts within the clip
        sign = rng.choice([-1.0, 1.0])
        delta = sign * level * s * rng.uniform(0.6, 1.0)
        speed = speed * (1.0 + delta + 0.5 * delta * np.linspace(-1, 1, n))
    freq = m.rot_hz * speed
    phase = 2 * np.pi * np.cumsum(freq) / sr
    keep = m.orders * m.rot_hz * 1.1 < sr / 2
    orders = m.orders[keep]
    amps = 10 ** ((m.amps_db[keep] + rng.standard_normal(len(orders))) / 20)
    tonal = harmonic_series(phase, orders, amps, rng.uniform(0, 2 * np.pi, len(orders)))
    if fault in ("imbalance", "tooth"):  # once-per-revolution modulation: sidebands
        tonal *= 1.0 + 0.35 * s * np.sin(phase + rng.uniform(0, 2 * np.pi))
    tonal /= rms(tonal)
    noise = shaped_noise(rng, n, sr, *m.noise_band, m.noise_tilt)
    if m.noise_am > 0:
        noise *= 1.0 + m.noise_am * np.sin(m.am_order * phase + rng.uniform(0, 2 * np.pi))
    x = tonal + 10 ** ((m.noise_db + rng.standard_normal()) / 20) * noise
    if m.event_period > 0:
        period = m.event_period / float(np.mean(speed))
        times = periodic_times(rng, period, duration, 0.01)
        freq_e, decay = m.event_freq, m.event_decay
        if fault == "sticking":  # late, missing and doubled clicks, a duller resonance
            s = s * level
            times = periodic_times(rng, period, duration, 0.12 * s)
            times = times[rng.uniform(size=len(times)) > 0.3 * s]
            doubles = times[rng.uniform(size=len(times)) < 0.5 * s] + rng.uniform(0.02, 0.06)
            times = np.sort(np.r_[times, doubles])
            freq_e *= 1.0 - 0.08 * s
            decay *= 1.0 + 0.8 * s
        amps_e = 10 ** (m.event_db / 20) * (1.0 + 0.1 * rng.standard_normal(len(times)))
        x = x + resonant_bursts(n, sr, times, amps_e, freq_e, decay, rng)
    ref = rms(x)
    x = x + ref * _fault(fault, level, rng, n, sr, duration, s, np.mean(freq))
    # The room: pink background noise and, sometimes, an unrelated knock.
    x = x + ref * 10 ** (-30 / 20) * shaped_noise(rng, n, sr, 20, sr / 2.2, -3.0)
    if rng.uniform() < 0.3:
        knock = resonant_bursts(n, sr, rng.uniform(0, duration, 1), np.ones(1),
                                rng.uniform(200, 1500), rng.uniform(0.01, 0.04), rng)
        x = x + ref * 10 ** (rng.uniform(-4, 4) / 20) * knock / max(np.abs(knock).max(), 1e-9)
    gain = 10 ** ((LEVEL_DBFS + m.gain_db + 0.7 * rng.standard_normal()) / 20)
    return limit_peak(x * (gain / ref))


def limit_peak(x: np.ndarray, peak_max: float = 0.98) -> np.ndarray:
    """Scale ``x`` down to a peak of ``peak_max`` if it is louder (no clipping in int16)."""
    peak = np.abs(x).max()
    return x * (peak_max / peak) if peak > peak_max else x


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32767.0), -32768, 32767).astype(np.int16)


def pick_fault(machine: Machine, label: int, index: int, rng: np.random.Generator,
               difficulty: float) -> tuple[str | None, float]:
    """(fault, severity) of a clip: none for normal clips; the fault types of the machine in
    turn (every one represented evenly), with a per-clip strength scaled by ``difficulty``."""
    if label != ANOMALY:
        return None, 0.0
    faults = list(FAULTS[machine.machine_type])
    return faults[index % len(faults)], machine.strength * rng.uniform(0.35, 1.0) / difficulty


def _fault(fault, level_db, rng, n, sr, duration, s, rot_hz) -> np.ndarray:
    """The additive part of a fault, relative to the normal sound's RMS (0 for none)."""
    db = level_db + 20 * np.log10(max(s, 1e-6))
    if fault == "bearing":  # outer-race defect: impulses at a non-integer order, high resonance
        rate = rot_hz * rng.uniform(3.1, 5.4)
        times = np.arange(rng.uniform(0, 1 / rate), duration, 1 / rate)
        amps = 1.0 + 0.3 * rng.standard_normal(len(times))
        y = resonant_bursts(n, sr, times, amps, rng.uniform(2500, 5500), 0.001, rng)
        return 10 ** (db / 20) * y / rms(y)
    if fault == "imbalance":  # a stronger once-per-revolution tone (modulation added above)
        phase = 2 * np.pi * rot_hz * np.arange(n) / sr + rng.uniform(0, 2 * np.pi)
        return 10 ** (db / 20) * np.sqrt(2) * np.sin(phase)
    if fault == "rattle":  # a loose part: random short broadband bursts
        times = poisson_times(rng, rng.uniform(3, 10), duration)
        y = noise_bursts(n, sr, times, rng.uniform(0.5, 1.0, len(times)),
                         rng.uniform(0.002, 0.006), (800, 5000), rng)
        return 10 ** (db / 20) * y / rms(y) if len(times) else np.zeros(n)
    if fault == "cavitation":  # collapsing bubbles: dense high-frequency crackle
        times = poisson_times(rng, rng.uniform(40, 120), duration)
        y = noise_bursts(n, sr, times, rng.uniform(0.2, 1.0, len(times)), 0.0015,
                         (2500, 7000), rng)
        return 10 ** (db / 20) * y / rms(y) if len(times) else np.zeros(n)
    if fault == "tooth":  # a damaged gear tooth: one knock per revolution at the mesh resonance
        times = np.arange(rng.uniform(0, 1 / rot_hz), duration, 1 / rot_hz)
        y = resonant_bursts(n, sr, times, np.ones(len(times)), rng.uniform(1500, 3000),
                            0.002, rng)
        return 10 ** (db / 20) * y / rms(y)
    if fault == "leak":  # a steady hiss
        y = shaped_noise(rng, n, sr, 3000, 7500)
        return 10 ** (db / 20) * y
    return np.zeros(n)  # none, drift, sticking: built into the normal parts
