"""The generator's calibration knobs and bench/synthetic_probe.py's helpers (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from asdbench_datasets.sound import faults, synth

from asdbench.data import AudioSpec
from bench.synthetic_probe import apply_variant, halfway


@pytest.fixture
def restore_constants():
    """Every generator constant as it was before the test (tests here set them)."""
    saved = [(module, name, getattr(module, name)) for module in (synth, faults)
             for name in dir(module) if name.isupper()]
    yield
    for module, name, value in saved:
        setattr(module, name, value)


def test_colour_is_the_stated_gain_curve():
    sr, n = 16000, 16000
    x = np.random.default_rng(0).standard_normal(n)
    assert np.allclose(synth.colour(x, sr, np.zeros(4)), x)
    # one cosine term of 6 dB: +6 dB at u = 0 (<= 50 Hz), -6 dB at Nyquist (u = 1)
    y = synth.colour(x, sr, np.array([6.0, 0.0, 0.0, 0.0]))
    gain = np.abs(np.fft.rfft(y)) / np.abs(np.fft.rfft(x))
    assert gain[10] == pytest.approx(10 ** (6 / 20), rel=1e-6)
    assert gain[-1] == pytest.approx(10 ** (-6 / 20), rel=1e-6)


# Samples 0, 1000, 2000, 3999 and the RMS of this clip rendered by generator version 2 before
# the knobs existed (commit 19736b1), to 1e-9: version 2's values of the knobs (synth.VERSION_2,
# applied as a calibration variant) must keep that sound.
VERSION_2_SAMPLES = [0.15128068302094502, 0.05322845624732826, -0.04379758072301212,
                     0.032826851752868196]
VERSION_2_RMS = 0.14448841894623377


def test_version_2_knobs_keep_the_version_2_sound(restore_constants):
    audio = AudioSpec(sample_rate=16000, clip_seconds=0.25)
    version_3 = synth.render(synth.make_machine("fan", 0, 3, 0), np.random.default_rng(5),
                             audio, "bearing", 0.8)
    apply_variant(synth.VERSION_2)
    m = synth.make_machine("fan", 0, 3, 0)
    before = synth.render(m, np.random.default_rng(5), audio, "bearing", 0.8)
    assert before[[0, 1000, 2000, 3999]] == pytest.approx(VERSION_2_SAMPLES, abs=1e-9)
    assert np.sqrt(np.mean(before ** 2)) == pytest.approx(VERSION_2_RMS, abs=1e-9)
    assert not np.allclose(version_3, before)  # version 3 sounds different
    synth.CLIP_EQ_DB = 3.0
    coloured = synth.render(m, np.random.default_rng(5), audio, "bearing", 0.8)
    synth.CLIP_EQ_DB = 0.0
    assert np.array_equal(synth.render(m, np.random.default_rng(5), audio, "bearing", 0.8), before)
    assert not np.allclose(coloured, before)


def test_an_intermittent_fault_is_the_healthy_clip_outside_its_bursts(restore_constants):
    audio = AudioSpec(sample_rate=16000, clip_seconds=1.0)
    m = synth.make_machine("fan", 1, 3, 0)
    synth.FAULT_DUTY = 0.3
    faulty = synth.render(m, np.random.default_rng(5), audio, "imbalance", 1.0)
    # the same stream without the fault (render draws the gate's stream first)
    rng = np.random.default_rng(5)
    rng.integers(2 ** 63)
    healthy = synth._render(m, rng, audio)
    changed = np.abs(faulty - healthy) > 1e-12
    assert 0.25 < changed.mean() < 0.4  # 30 % of the clip, plus the 5-ms ramps
    gate = synth.fault_gate(np.random.default_rng(0), 16000, 16000, 0.3)
    assert gate.min() == 0.0 and gate.max() == pytest.approx(1.0)
    assert 0.29 < np.mean(gate > 0.5) < 0.36
    synth.FAULT_DUTY = 1.0  # throughout: the fault changes every sample
    assert np.all(synth.render(m, np.random.default_rng(5), audio, "imbalance", 1.0)
                  != synth.render(m, np.random.default_rng(5), audio))


def test_speed_walk_sweeps_the_harmonics_within_a_clip(restore_constants):
    audio = AudioSpec(sample_rate=16000, clip_seconds=2.0)
    m = synth.make_machine("fan", 0, 3, 0)

    def pass_peak_hz(x: np.ndarray) -> np.ndarray:
        """Frequency of the strongest component near the 7th order, per 0.5-s quarter."""
        out = []
        for q in x.reshape(4, -1):
            f = np.fft.rfftfreq(len(q), 1 / 16000)
            mag = np.abs(np.fft.rfft(q * np.hanning(len(q))))
            band = (f > 0.8 * 7 * m.rot_hz) & (f < 1.2 * 7 * m.rot_hz)
            out.append(f[band][np.argmax(mag[band])])
        return np.array(out)

    steady = pass_peak_hz(synth.render(m, np.random.default_rng(3), audio))
    synth.SPEED_WALK = 0.05
    swept = pass_peak_hz(synth.render(m, np.random.default_rng(3), audio))
    assert np.ptp(steady) <= 4.0 and np.ptp(swept) > 3 * max(np.ptp(steady), 2.0)


def test_load_slowdown_slows_the_shaft_of_loading_faults_only(restore_constants):
    m = synth.make_machine("pump", 1, 3, 0)
    rng = np.random.default_rng(0)
    faults.LOAD_SLOWDOWN = 0.0  # version 2
    assert faults.apply_fault(m, "bearing", 1.0, rng, 16000).rot_hz == m.rot_hz
    faults.LOAD_SLOWDOWN = 0.03  # version 3
    assert faults.apply_fault(m, "bearing", 0.5, rng, 16000).rot_hz == pytest.approx(
        m.rot_hz * (1 - 0.015))
    assert faults.apply_fault(m, "vane", 1.0, rng, 16000).rot_hz == m.rot_hz


def test_apply_variant_sets_constants_and_rejects_unknown_names(restore_constants):
    apply_variant({"OPERATING_SPEEDS": [0.9, 1.1], "f.LOAD_SLOWDOWN": 0.02})
    assert synth.OPERATING_SPEEDS == (0.9, 1.1)
    assert faults.LOAD_SLOWDOWN == 0.02
    with pytest.raises(SystemExit, match="NO_SUCH_KNOB"):
        apply_variant({"NO_SUCH_KNOB": 1})


def test_halfway_moves_every_numeric_parameter_but_keeps_the_fault_strength():
    a, b = synth.make_machine("fan", 0, 3, 0), synth.make_machine("fan", 2, 3, 0)
    mid = halfway(a, b, 0.5)
    assert mid.rot_hz == pytest.approx((a.rot_hz + b.rot_hz) / 2)
    assert np.allclose(mid.res_f, (a.res_f + b.res_f) / 2)
    assert mid.noise_band == pytest.approx(tuple((x + y) / 2 for x, y in
                                                 zip(a.noise_band, b.noise_band, strict=True)))
    assert mid.strength == a.strength and mid.machine_type == "fan"
    assert mid.pass_order == a.pass_order and isinstance(mid.noise_band, tuple)
    assert halfway(a, b, 1.0).rot_hz == pytest.approx(b.rot_hz)
