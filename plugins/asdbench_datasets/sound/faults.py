"""Faults of the synthetic machines: each changes the ID's own signature, by documented amounts
at severity ``s`` (1 = full strength; a clip's severity is drawn per clip and per ID).

- ``bearing``: the structure's highest resonance moves up by ``BEARING_SHIFT * s`` (relative)
  and gains ``BEARING_GAIN_DB * s``; impulses at the ID's outer-race frequency
  (``bearing_order`` x shaft speed) ring that shifted resonance.
- ``imbalance``: the 1x order gains ``IMBALANCE_DB * s``; the whole tonal part is modulated at
  1x (depth ``IMBALANCE_AM * s``): sidebands at +-1x around every order.
- ``blade`` / ``vane`` / ``tooth`` / ``belt`` (damaged blade, vane, tooth or belt lug): each
  pass harmonic (multiples of the blade/vane/tooth/lug count) changes by up to
  ``PASS_DB * s`` (random sign), and the pass harmonics are modulated once per revolution
  (depth ``PASS_AM * s``).
- ``mount`` (loosened mounts): every resonance moves down by ``MOUNT_SHIFT * s`` (relative),
  broadens and gains ``MOUNT_GAIN_DB * s``.
- ``leak`` / ``cavitation``: broadband sound in a band the ID does not have (just above its
  flow-noise band), ``LEAK_DB + 20 log10 s`` relative to the machine; cavitation as dense
  crackle, a leak as a steady hiss.
- ``sticking`` (valve): the valve closes late (open time + up to ``STICK_DELAY * s`` of the
  cycle), its timing jitters, it bounces (doubled clicks), its clicks ring lower and longer.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from asdbench_datasets.sound.machine import Machine
from asdbench_datasets.sound.signals import (
    noise_bursts,
    periodic_times,
    poisson_times,
    resonant_bursts,
    rms,
    shaped_noise,
)

# The faults of each type (anomalous clips cycle through them evenly).
FAULTS: dict[str, tuple[str, ...]] = {
    "fan": ("bearing", "imbalance", "blade", "mount"),
    "pump": ("bearing", "imbalance", "vane", "cavitation"),
    "gearbox": ("tooth", "bearing", "imbalance", "mount"),
    "valve": ("sticking", "leak", "mount"),
    "conveyor": ("bearing", "imbalance", "belt", "mount"),
}
PASS_FAULTS = ("blade", "vane", "tooth", "belt")
BEARING_SHIFT = 0.2
BEARING_GAIN_DB = 6.0
BEARING_IMPULSE_DB = -16.0
IMBALANCE_DB = 15.0
IMBALANCE_AM = 0.3
PASS_DB = 10.0
PASS_AM = 0.5
MOUNT_SHIFT = 0.15
MOUNT_GAIN_DB = 3.0
LEAK_DB = -16.0
STICK_DELAY = 0.4
# Faults that load the motor slow the shaft by LOAD_SLOWDOWN * s (relative; 0 in generator
# version 2). Version 3's amounts; version 2's are in synth.VERSION_2.
LOAD_SLOWDOWN = 0.03
LOADING_FAULTS = ("bearing", "imbalance", "mount", "cavitation")


def leak_band(m: Machine, sr: int) -> tuple[float, float]:
    """A band the ID does not have: just above its flow-noise band."""
    hi = m.noise_band[1]
    return hi * 1.3, min(hi * 2.3, 0.45 * sr)


def apply_fault(m: Machine, fault: str | None, s: float, rng: np.random.Generator,
                sr: int) -> Machine:
    """The machine with ``fault`` of severity ``s`` built into its parameters."""
    if LOAD_SLOWDOWN and fault in LOADING_FAULTS:
        m = replace(m, rot_hz=m.rot_hz * (1.0 - LOAD_SLOWDOWN * s))
    if fault == "bearing":
        res_f, res_db = m.res_f.copy(), m.res_db.copy()
        res_f[-1] *= 1.0 + BEARING_SHIFT * s
        res_db[-1] += BEARING_GAIN_DB * s
        return replace(m, res_f=res_f, res_db=res_db)
    if fault == "imbalance":
        amps = m.amps_db.copy()
        amps[m.orders == 1] += IMBALANCE_DB * s
        return replace(m, amps_db=amps, shaft_am=IMBALANCE_AM * s)
    if fault in PASS_FAULTS:
        is_pass = (m.orders % m.pass_order == 0) & (m.orders >= m.pass_order)
        change = PASS_DB * s * rng.choice([-1.0, 1.0], len(m.orders)) * rng.uniform(
            0.5, 1.0, len(m.orders))
        return replace(m, amps_db=m.amps_db + np.where(is_pass, change, 0.0),
                       pass_am=PASS_AM * s)
    if fault == "mount":
        return replace(m, res_f=m.res_f * (1.0 - MOUNT_SHIFT * s), res_bw=m.res_bw * (1.0 + s),
                       res_db=m.res_db + MOUNT_GAIN_DB * s)
    if fault in ("leak", "cavitation"):
        return replace(m, leak_db=LEAK_DB + 20 * np.log10(max(s, 1e-6)),
                       leak_band=leak_band(m, sr), crackle=fault == "cavitation")
    return m  # sticking: in the valve's timing (valve_timing)


def fault_sound(m: Machine, fault: str | None, s: float, rng: np.random.Generator, n: int,
                sr: int, rot_hz: float) -> np.ndarray:
    """The added part of a fault (bearing impulses, leak/cavitation band), relative to the
    machine's RMS; zeros for the faults that only change parameters."""
    duration = n / sr
    if fault == "bearing":
        rate = rot_hz * m.bearing_order
        times = np.arange(rng.uniform(0, 1 / rate), duration, 1 / rate)
        amps = 1.0 + 0.3 * rng.standard_normal(len(times))
        y = resonant_bursts(n, sr, times, amps, float(m.res_f[-1]), 0.0012, rng)
        return 10 ** ((BEARING_IMPULSE_DB + 20 * np.log10(max(s, 1e-6))) / 20) * y / rms(y)
    if m.leak_db > -90:
        lo, hi = m.leak_band
        if m.crackle:
            times = poisson_times(rng, rng.uniform(60, 150), duration)
            y = noise_bursts(n, sr, times, rng.uniform(0.2, 1.0, len(times)), 0.0015,
                             (lo, hi), rng)
        else:
            y = shaped_noise(rng, n, sr, lo, hi)
        return 10 ** (m.leak_db / 20) * y / rms(y) if rms(y) > 1e-9 else np.zeros(n)
    return np.zeros(n)


def valve_timing(m: Machine, rng: np.random.Generator, duration: float, speed: float,
                 fault: str | None, s: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(opening times, closing times, click resonance, click decay) of a valve clip."""
    period = m.event_period / speed
    opens = periodic_times(rng, period, duration, 0.01, start=-rng.uniform(0.0, period))
    open_len = m.event_duty * period * (1.0 + 0.03 * rng.standard_normal(len(opens)))
    freq, decay = m.event_freq, m.event_decay
    if fault == "sticking":
        opens = opens + 0.15 * s * period * rng.standard_normal(len(opens))
        open_len = open_len + STICK_DELAY * s * period * rng.uniform(0.5, 1.0, len(opens))
        freq, decay = freq * (1.0 - 0.08 * s), decay * (1.0 + 0.8 * s)
    closes = opens + open_len
    if fault == "sticking":  # bounces: a second click shortly after some closings
        bounce = closes[rng.uniform(size=len(closes)) < 0.6 * s]
        closes = np.r_[closes, bounce + rng.uniform(0.015, 0.04, len(bounce))]
        opens = np.r_[opens, bounce]  # a bounce re-opens the valve for an instant
        order = np.argsort(opens)
        opens, closes = opens[order], np.sort(closes)
    return opens, closes, float(freq), float(decay)
