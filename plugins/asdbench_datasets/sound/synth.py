"""Building blocks of machine-like sounds with realistic faults, for dataset generators.

Pure functions of a ``numpy`` random generator, so a generation is bit-identical for the same
seed. A machine ID is a :class:`Machine`: a shaft speed, a harmonic series with its own
amplitude profile, the structure's resonances (which colour both the harmonics and the flow
noise), a noise colour and a rotation-locked modulation; a valve is a cycle of openings and
closings instead of a steady sound. :func:`make_machine` draws one physical machine of a
type's model (deviations scaled by the type's spread and ``similarity``), :func:`render`
renders a clip of it in a factory room, and a fault changes the ID's own signature
(:mod:`.faults`, re-exported here). The shipped ``synthetic`` and
``synthetic-shift`` datasets are built from them.
"""

from __future__ import annotations

import copy
import zlib

import numpy as np

from asdbench.sdk import ANOMALY, AsdbenchError, AudioSpec
from asdbench_datasets.sound.faults import (  # noqa: F401 (re-exported: what fault tests use)
    FAULTS,
    apply_fault,
    fault_sound,
    valve_timing,
)
from asdbench_datasets.sound.machine import Machine
from asdbench_datasets.sound.signals import (  # noqa: F401 (re-exported building blocks)
    harmonic_series,
    limit_peak,
    noise_bursts,
    periodic_times,
    poisson_times,
    resonant_bursts,
    rms,
    shaped_noise,
    smooth_walk,
    spectral_noise,
    to_pcm16,
)

TYPES = ("fan", "pump", "gearbox", "valve", "conveyor")
# Generator version 3 (issue 14; results/synthetic-calibration.md, variant v3i). What changed
# from version 2 and why: IDs are told apart by positions that faults move (speed, resonance
# frequencies) more than by levels a recording changes anyway; every recording has an operating
# state and a colouration of its own (normal variation shared by every ID, which one ID's
# clips cannot cover but a model of all IDs can learn to ignore); faults are stronger and load
# the motor. The values of version 2 are in VERSION_2 below (its sound is pinned by a test).
#
# Overall level in dBFS and the spread of fault strengths over the IDs of a type (some IDs'
# faults are weaker: hard IDs, as in every DCASE type).
LEVEL_DBFS = -26.0
ID_STRENGTHS = (1.0, 0.6)
# A fault's severity in one clip: uniform in this range, times the ID's strength.
SEVERITY = (0.5, 1.0)
# How different the IDs of a type are (the deviations below are multiplied by it): the
# conveyor is the near-identical-ID type (ToyConveyor: same model, same belt, same room).
TYPE_SPREAD = {"fan": 1.0, "pump": 1.0, "gearbox": 1.0, "valve": 1.0, "conveyor": 0.35}
# Per-ID deviations at spread 1 (standard deviations): relative speed (IDs also sit on a
# grid of this width), harmonic levels (dB), resonance frequencies (relative), resonance
# gains (dB), noise tilt (dB/octave), noise level (dB), modulation depth (relative).
ID_SPEED = 0.02
ID_HARMONIC_DB = 1.5
ID_RESONANCE_SHIFT = 0.12
ID_RESONANCE_DB = 1.0
ID_TILT = 0.3
ID_NOISE_DB = 0.5
ID_MODULATION = 0.4
# ... and overall level (dB) and flow-noise band edges (relative, log scale).
ID_GAIN_DB = 0.0
ID_BAND = 0.02
# The factory room: background noise relative to the machine (dB, uniform per clip; MIMII
# mixes factory noise at 6, 0 and -6 dB SNR) and the chance of an unrelated knock in a clip.
BACKGROUND_DB = (-15.0, 0.0)
KNOCK_CHANCE = 0.3
# The operating point of one recording (standard deviations per clip): relative speed (load),
# recording level (dB), flow-noise level (dB) and colour (dB/octave).
CLIP_SPEED = 0.003
CLIP_LEVEL_DB = 0.5
CLIP_NOISE_DB = 1.0
CLIP_TILT = 1.0
# Per clip also: each harmonic's level (dB); the operating state, a speed factor drawn from
# OPERATING_SPEEDS (light, nominal, heavy load: 6 %, three times the IDs' speed spread); a
# smooth recording colouration (microphone position, room), the dB std of its 4 cosine terms
# over log frequency.
CLIP_HARMONIC_DB = 0.2
OPERATING_SPEEDS = (0.94, 1.0, 1.06)
CLIP_EQ_DB = 3.0
# Speed wander within a clip (std, relative; slowly varying load: harmonics sweep) and the
# share of a faulty clip the fault is present in (1: throughout; below 1 an intermittent fault
# in bursts of 0.1-0.3 s: rubbing, a rattling loose part). Calibration knobs: both at these
# values in versions 2 and 3 (what larger values did: results/synthetic-calibration.md).
SPEED_WALK = 0.002
FAULT_DUTY = 1.0
# Version 2's values of the constants version 3 changed (``f.``: the faults module), in the
# format of bench/synthetic_probe.py's variants: that tool, given these, renders version 2.
VERSION_2 = {
    "ID_STRENGTHS": (1.0, 0.45), "SEVERITY": (0.35, 1.0),
    "TYPE_SPREAD": {"fan": 1.0, "pump": 1.0, "gearbox": 1.0, "valve": 1.0, "conveyor": 0.12},
    "ID_SPEED": 0.025, "ID_HARMONIC_DB": 4.0, "ID_RESONANCE_DB": 3.0, "ID_TILT": 1.5,
    "ID_NOISE_DB": 2.0, "ID_GAIN_DB": 2.0, "ID_BAND": 0.1, "CLIP_SPEED": 0.01,
    "CLIP_LEVEL_DB": 2.0, "CLIP_NOISE_DB": 2.5, "CLIP_HARMONIC_DB": 1.0,
    "OPERATING_SPEEDS": (1.0,), "CLIP_EQ_DB": 0.0, "f.PASS_DB": 6.0, "f.MOUNT_SHIFT": 0.10,
    "f.BEARING_SHIFT": 0.12, "f.LOAD_SLOWDOWN": 0.0,
}


def _base(machine_type: str) -> dict:
    """Nominal parameters of each machine type (before the per-ID variation)."""
    common = dict(event_period=0.0, event_duty=0.0, event_freq=0.0, event_decay=0.0,
                  event_db=-99.0)
    if machine_type == "fan":  # 7 blades: strong blade-pass harmonics, loud broadband flow
        k = np.arange(1, 9)
        return dict(common, rot_hz=24.0, orders=np.r_[1, 2, 3, 7 * k],
                    amps_db=np.r_[-22, -26, -28, -4.0 * (k - 1)], pass_order=7,
                    res=([600, 1800, 4200], [90, 220, 500], [8, 6, 6]), noise_band=(80, 5000),
                    noise_tilt=-3.0, noise_db=-2.0, am_depth=0.25, am_order=7)
    if machine_type == "pump":  # motor harmonics, vane pass (5 vanes) boosted, fluid noise
        o = np.arange(1, 17).astype(float)
        return dict(common, rot_hz=48.0, orders=o,
                    amps_db=-2.0 * (o - 1) + np.where(o % 5 == 0, 6.0, 0.0), pass_order=5,
                    res=([900, 2200, 3600], [120, 250, 400], [7, 6, 5]), noise_band=(250, 3000),
                    noise_tilt=-2.0, noise_db=-6.0, am_depth=0.35, am_order=5)
    if machine_type == "gearbox":  # 27-tooth mesh with sidebands at +-1 shaft order
        k = np.arange(1, 5)
        return dict(common, rot_hz=18.0, orders=np.r_[1, 2, 27 * k, 27 * k - 1, 27 * k + 1],
                    amps_db=np.r_[-15, -20, -6.0 * (k - 1), -14 - 6.0 * (k - 1),
                                  -15 - 6.0 * (k - 1)], pass_order=27,
                    res=([1200, 2600, 4300], [150, 300, 500], [8, 7, 5]), noise_band=(50, 4000),
                    noise_tilt=-4.0, noise_db=-14.0, am_depth=0.1, am_order=1)
    if machine_type == "valve":  # a solenoid valve cycling: clicks and flow bursts
        o = np.arange(1, 7).astype(float)
        return dict(rot_hz=30.0, orders=o, amps_db=-3.0 * (o - 1), pass_order=1,
                    res=([700, 1800, 3100], [100, 200, 350], [8, 6, 6]), noise_band=(200, 3000),
                    noise_tilt=-3.0, noise_db=4.0, am_depth=0.0, am_order=1, event_period=0.45,
                    event_duty=0.4, event_freq=1800.0, event_decay=0.006, event_db=12.0)
    if machine_type == "conveyor":  # a belt over rollers (9 lugs), quiet motor hum
        k = np.arange(1, 5)
        return dict(common, rot_hz=12.0, orders=np.r_[1, 2, 3, 4, 9 * k],
                    amps_db=np.r_[-14, -18, -22, -26, -3.0 * (k - 1)], pass_order=9,
                    res=([500, 1500, 3000], [80, 200, 400], [7, 6, 5]), noise_band=(100, 4000),
                    noise_tilt=-3.0, noise_db=-4.0, am_depth=0.2, am_order=9)
    raise AsdbenchError(f"synthetic: unknown machine type '{machine_type}' "
                        f"(available: {', '.join(TYPES)})")


def stable_code(name: str) -> int:
    """A number for a name that is the same in every process (unlike hash())."""
    return zlib.crc32(name.encode())


def make_machine(machine_type: str, id_index: int, num_ids: int, seed: int,
                 similarity: float = 0.0) -> Machine:
    """One ID of a type: the nominal machine with seeded deviations in several properties at
    once, scaled by the type's spread times ``1 - similarity`` (1: identical IDs). The
    deviations' directions do not depend on ``similarity``, only their size."""
    b = _base(machine_type)
    d = TYPE_SPREAD[machine_type] * (1.0 - float(similarity))
    rng = np.random.default_rng([seed, stable_code(machine_type), id_index, 7])
    order_rng = np.random.default_rng([seed, stable_code(machine_type), 11])
    strengths = np.geomspace(*ID_STRENGTHS, num_ids) if num_ids > 1 else np.ones(1)
    strength = float(strengths[order_rng.permutation(num_ids)[id_index]])
    grid = (id_index - (num_ids - 1) / 2) / max(1.0, (num_ids - 1) / 2)  # in [-1, 1]
    z = rng.standard_normal(32)  # every deviation's direction, drawn whatever d is
    nres, nord = len(b["res"][0]), len(b["orders"])
    res_f, res_bw, res_db = (np.asarray(v, float) for v in b["res"])
    return Machine(
        machine_type=machine_type,
        rot_hz=b["rot_hz"] * (1.0 + ID_SPEED * d * (grid + 0.3 * z[0])),
        orders=np.asarray(b["orders"], float),
        amps_db=b["amps_db"] + ID_HARMONIC_DB * d * rng.standard_normal(nord),
        pass_order=b["pass_order"],
        res_f=res_f * (1.0 + ID_RESONANCE_SHIFT * d * z[1:1 + nres]),
        res_bw=res_bw * np.exp(0.3 * d * z[4:4 + nres]),
        res_db=res_db + ID_RESONANCE_DB * d * z[7:7 + nres],
        noise_band=(b["noise_band"][0] * np.exp(ID_BAND * d * z[10]),
                    b["noise_band"][1] * np.exp(ID_BAND * d * z[11])),
        noise_tilt=b["noise_tilt"] + ID_TILT * d * z[12],
        noise_db=b["noise_db"] + ID_NOISE_DB * d * z[13],
        am_depth=b["am_depth"] * float(np.exp(ID_MODULATION * d * z[14])),
        am_order=b["am_order"],
        bearing_order=4.2 + 0.8 * d * z[15],
        event_period=b["event_period"] * (1.0 + 0.06 * d * (grid + 0.3 * z[16])),
        event_duty=float(np.clip(b["event_duty"] + 0.08 * d * z[17], 0.15, 0.7)),
        event_freq=b["event_freq"] * (1.0 + 0.1 * d * z[18]),
        event_decay=b["event_decay"] * float(np.exp(0.3 * d * z[19])),
        event_db=b["event_db"] + 2.0 * d * z[20],
        gain_db=ID_GAIN_DB * d * z[21],
        strength=strength,
    )


def pick_fault(machine: Machine, label: int, index: int, rng: np.random.Generator,
               difficulty: float) -> tuple[str | None, float]:
    """(fault, severity) of a clip: none for normal clips; the fault types of the machine in
    turn (every one represented evenly), with a per-clip severity times the ID's strength,
    divided by ``difficulty``."""
    if label != ANOMALY:
        return None, 0.0
    faults = FAULTS[machine.machine_type]
    return faults[index % len(faults)], machine.strength * rng.uniform(*SEVERITY) / difficulty


def structure_response(m: Machine, f: np.ndarray) -> np.ndarray:
    """Magnitude response of the machine's structure: 1 plus a Lorentzian peak per resonance."""
    h = np.ones_like(f, dtype=np.float64)
    for fc, bw, db in zip(m.res_f, m.res_bw, m.res_db, strict=True):
        h += (10 ** (db / 20) - 1.0) / (1.0 + ((f - fc) / bw) ** 2)
    return h


def _tonal(m: Machine, rng: np.random.Generator, phase: np.ndarray, sr: int) -> np.ndarray:
    """The harmonic series, each order coloured by the structure; faults' modulations."""
    keep = m.orders * m.rot_hz * 1.1 < sr / 2
    orders = m.orders[keep]
    amps = (10 ** ((m.amps_db[keep] + CLIP_HARMONIC_DB * rng.standard_normal(len(orders))) / 20)
            * structure_response(m, orders * m.rot_hz))
    phases = rng.uniform(0, 2 * np.pi, len(orders))
    shaft = 1.0 + m.shaft_am * np.sin(phase + rng.uniform(0, 2 * np.pi))
    is_pass = (orders % m.pass_order == 0) & (orders >= m.pass_order)
    passing = harmonic_series(phase, orders[is_pass], amps[is_pass], phases[is_pass])
    rest = harmonic_series(phase, orders[~is_pass], amps[~is_pass], phases[~is_pass])
    # a damaged blade/tooth passes once per revolution: the pass harmonics are modulated at 1x
    passing = passing * (1.0 + m.pass_am * np.sin(phase + rng.uniform(0, 2 * np.pi)))
    return (passing + rest) * shaft


def _valve(m: Machine, rng: np.random.Generator, flow: np.ndarray, sr: int,
           speed: float, fault: str | None, s: float) -> np.ndarray:
    """A cycling valve: flow noise while open, a click ringing a resonance at each opening
    and closing (strongly non-stationary); ``sticking`` changes the timing and the decay."""
    n = len(flow)
    opens, closes, freq, decay = valve_timing(m, rng, n / sr, speed, fault, s)
    env = np.full(n, 0.05)
    ramp = int(0.004 * sr) + 1
    for t0, t1 in zip(opens, closes, strict=True):
        a, z = max(0, int(t0 * sr)), min(n, int(t1 * sr))
        if z > a:
            env[a:z] = 1.0
    env = np.convolve(env, np.ones(ramp) / ramp, mode="same")
    times = np.r_[opens, closes]
    amps = 10 ** (m.event_db / 20) * (1.0 + 0.1 * rng.standard_normal(len(times)))
    amps[len(opens):] *= 0.6  # closing clicks are softer than opening ones
    return flow * env + resonant_bursts(n, sr, times, amps, freq, decay, rng)


def _room(rng: np.random.Generator, n: int, sr: int, duration: float) -> np.ndarray:
    """Unit-RMS factory background: coloured noise, sometimes another machine's hum, and
    in normal and anomalous clips alike an occasional unrelated knock."""
    y = shaped_noise(rng, n, sr, 20, sr / 2.2, rng.uniform(-5.0, -1.0))
    if rng.uniform() < 0.5:
        t = np.arange(n) / sr
        f0 = rng.uniform(40.0, 140.0)
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
                  for k in range(1, 6))
        y = y + rng.uniform(0.3, 1.0) * hum / rms(hum)
    if rng.uniform() < KNOCK_CHANCE:
        knock = resonant_bursts(n, sr, rng.uniform(0, duration, 1), np.ones(1),
                                rng.uniform(200, 1500), rng.uniform(0.01, 0.04), rng)
        y = y + 10 ** (rng.uniform(6, 14) / 20) * knock / max(np.abs(knock).max(), 1e-9)
    return y / rms(y)


def colour(x: np.ndarray, sr: int, coef_db: np.ndarray) -> np.ndarray:
    """``x`` through a smooth gain curve: ``sum_k coef_db[k-1] cos(k pi u)`` dB, u = log
    frequency from 50 Hz (0) to Nyquist (1)."""
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(len(x), 1.0 / sr), 50.0)
    u = np.log(f / 50.0) / np.log(sr / 2 / 50.0)
    g = sum(c * np.cos(k * np.pi * u) for k, c in enumerate(coef_db, start=1))
    return np.fft.irfft(spec * 10 ** (g / 20), len(x))


def render(machine: Machine, rng: np.random.Generator, audio: AudioSpec,
           fault: str | None = None, severity: float = 0.0) -> np.ndarray:
    """One clip of ``machine`` (float64 in [-1, 1]); with ``fault``, of that severity, present
    in a ``FAULT_DUTY`` share of the clip (in bursts) when that is below 1. A valve's fault is
    always present throughout: its sticking redraws the cycle's timing, so the clip with and
    without the fault do not share their random streams and cannot be gated together."""
    if not fault or FAULT_DUTY >= 1.0 or machine.event_period > 0:
        return _render(machine, rng, audio, fault, severity)
    gate_rng = np.random.default_rng(rng.integers(2 ** 63))
    twin = copy.deepcopy(rng)  # the same clip without the fault: equal streams, equal sound
    healthy = _render(machine, twin, audio, None, 0.0)
    faulty = _render(machine, rng, audio, fault, severity)
    return healthy + fault_gate(gate_rng, audio.num_samples, audio.sample_rate,
                                FAULT_DUTY) * (faulty - healthy)


def fault_gate(rng: np.random.Generator, n: int, sr: int, duty: float) -> np.ndarray:
    """0/1 envelope (5 ms ramps) that is 1 in bursts of 0.1-0.3 s covering ``duty`` of n."""
    gate = np.zeros(n)
    target = duty * n
    while gate.sum() < target:
        length = max(1, min(int(rng.uniform(0.1, 0.3) * sr), int(target - gate.sum()) + 1))
        start = int(rng.uniform(0, max(1, n - length)))
        gate[start:start + length] = 1.0
    ramp = int(0.005 * sr) + 1
    return np.convolve(gate, np.ones(ramp) / ramp, mode="same")


def _render(machine: Machine, rng: np.random.Generator, audio: AudioSpec,
            fault: str | None = None, severity: float = 0.0) -> np.ndarray:
    """One clip rendered throughout as ``render`` describes.

    The fault's own random draws come from a stream split off first, so a clip rendered with
    and without a fault from equal generators differs only by the fault."""
    sr, n = audio.sample_rate, audio.num_samples
    s = float(severity)
    fault_rng = np.random.default_rng(rng.integers(2 ** 63))
    m = apply_fault(machine, fault, s, fault_rng, sr) if fault else machine
    # Operating point of this recording: speed and levels vary a little clip to clip.
    state = 1.0 if len(OPERATING_SPEEDS) < 2 else OPERATING_SPEEDS[rng.integers(len(OPERATING_SPEEDS))]
    speed = state * (1.0 + CLIP_SPEED * rng.standard_normal()) + SPEED_WALK * smooth_walk(rng, n, sr, 1.0)
    phase = 2 * np.pi * np.cumsum(m.rot_hz * speed) / sr
    tonal = _tonal(m, rng, phase, sr)
    tonal = tonal / rms(tonal)
    noise = spectral_noise(rng, n, sr, *m.noise_band, m.noise_tilt + CLIP_TILT * rng.standard_normal(),
                           lambda f: structure_response(m, f))
    if m.am_depth > 0:
        noise *= 1.0 + m.am_depth * np.sin(m.am_order * phase + rng.uniform(0, 2 * np.pi))
    flow = 10 ** ((m.noise_db + CLIP_NOISE_DB * rng.standard_normal()) / 20) * noise
    if m.event_period > 0:
        x = 0.3 * tonal + _valve(m, rng, flow, sr, float(np.mean(speed)), fault, s)
    else:
        x = tonal + flow
    ref = rms(x)
    x = x + ref * fault_sound(m, fault, s, fault_rng, n, sr, float(np.mean(m.rot_hz * speed)))
    if CLIP_EQ_DB > 0:
        x = colour(x, sr, CLIP_EQ_DB * rng.standard_normal(4))
    x = x + ref * 10 ** (rng.uniform(*BACKGROUND_DB) / 20) * _room(rng, n, sr, n / sr)
    gain = 10 ** ((LEVEL_DBFS + m.gain_db + CLIP_LEVEL_DB * rng.standard_normal()) / 20)
    return limit_peak(x * (gain / ref))

