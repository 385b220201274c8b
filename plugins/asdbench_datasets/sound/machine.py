"""One machine ID's sound as fixed parameters: what the generator draws and the faults change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Machine:
    """The sound of one machine ID (its fixed parameters)."""

    machine_type: str
    rot_hz: float  # shaft rotation frequency
    orders: np.ndarray  # orders of the tonal series (multiples of rot_hz)
    amps_db: np.ndarray  # their levels
    pass_order: int  # blade / vane / tooth / roller count: the pass harmonics are its multiples
    res_f: np.ndarray  # structural resonances: centre (Hz), bandwidth (Hz), gain (dB)
    res_bw: np.ndarray
    res_db: np.ndarray
    noise_band: tuple[float, float]
    noise_tilt: float  # dB/octave
    noise_db: float  # flow noise level relative to the tonal part
    am_depth: float  # depth of the flow noise modulation by the rotation
    am_order: float  # the order that modulates the flow noise
    bearing_order: float  # outer-race defect frequency / shaft frequency
    event_period: float  # valve cycle (s); 0 = a steadily running machine
    event_duty: float  # fraction of the cycle the valve is open
    event_freq: float  # resonance the valve's clicks ring
    event_decay: float
    event_db: float
    gain_db: float
    strength: float  # fault strength multiplier of this ID (small = hard ID)
    # what faults change (1 / 0 when healthy): pass-harmonic modulation, 1x modulation
    pass_am: float = 0.0
    shaft_am: float = 0.0
    leak_db: float = -99.0  # broadband component in a band the ID lacks (leak, cavitation)
    leak_band: tuple[float, float] = (0.0, 0.0)
    crackle: bool = False  # the leak band as dense bursts (cavitation) rather than a hiss
