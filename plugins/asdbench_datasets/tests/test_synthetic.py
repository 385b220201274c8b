"""The synthetic generator's physics (issue 14): IDs are machines of one model differing in
several properties, faults change the ID's own signature by the documented amounts, one type
has near-identical IDs and one is strongly non-stationary; and a tiny run detects faults."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from asdbench_datasets import synthetic
from asdbench_datasets.options import SYNTHETIC_TYPES
from asdbench_datasets.sound import faults, synth

from asdbench.config import resolve
from asdbench.data import ANOMALY, NORMAL, AudioSpec
from asdbench.plugins import get_registry
from asdbench.testing import EASY_RUN

SR = 16000
LONG = AudioSpec(SR, 4.0)  # fine frequency resolution (0.25 Hz) for order levels


def machine(machine_type: str = "fan", i: int = 0, similarity: float = 0.0) -> synth.Machine:
    return synth.make_machine(machine_type, i, 3, 0, similarity)


def pair(m: synth.Machine, fault: str, s: float = 1.0, audio: AudioSpec = LONG, seed: int = 5):
    """A normal and a faulty clip of ``m`` from equal random streams: they differ by the fault."""
    normal = synth.render(m, np.random.default_rng(seed), audio)
    faulty = synth.render(m, np.random.default_rng(seed), audio, fault, s)
    return normal, faulty


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / SR), mag


def peak_db(x: np.ndarray, f0: float, rel: float = 0.02) -> float:
    """Level (dB) of the strongest component within ``rel`` of ``f0``."""
    f, mag = spectrum(x)
    band = (f > f0 * (1 - rel)) & (f < f0 * (1 + rel))
    return 20 * np.log10(mag[band].max())


def band_db(x: np.ndarray, lo: float, hi: float) -> float:
    f, mag = spectrum(x)
    return 10 * np.log10(np.sum(mag[(f >= lo) & (f < hi)] ** 2))


@pytest.fixture
def steady(monkeypatch):
    """Clips at the nominal speed (no per-clip load change, one operating state, no slowing
    under load) and without the recording's colouration, so that an order's level is read in
    a narrow band; what a fault changes in the ID's signature does not depend on them."""
    monkeypatch.setattr(synth, "CLIP_SPEED", 0.0)
    monkeypatch.setattr(synth, "CLIP_EQ_DB", 0.0)
    monkeypatch.setattr(synth, "OPERATING_SPEEDS", (1.0,))
    monkeypatch.setattr(faults, "LOAD_SLOWDOWN", 0.0)


def log_mel_stats(clips: list[np.ndarray]) -> np.ndarray:
    """Each clip's mean and standard deviation over time of its log-Mel bands (64, dB)."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=1024, hop_length=512, n_mels=64)
    spec = 10 * torch.log10(mel(torch.tensor(np.stack(clips), dtype=torch.float32)) + 1e-10)
    return torch.cat([spec.mean(-1), spec.std(-1)], 1).numpy()


# --- determinism, options ------------------------------------------------------------------


def test_generation_is_bit_identical_per_seed_and_records_its_options(tmp_path):
    opts = dict(types="conveyor,valve", ids_per_type=2, train_per_id=2, test_normal_per_id=1,
                test_anomaly_per_id=3, clip_seconds=0.25, id_similarity=0.3, difficulty=2.0)
    reg = get_registry()
    a = reg.create("dataset", "synthetic", {"root": str(tmp_path / "a"), **opts})
    b = reg.create("dataset", "synthetic", {"root": str(tmp_path / "b"), **opts})
    folder = a.ensure()
    files = sorted(p.relative_to(folder) for p in folder.rglob("*.wav"))
    assert len(files) == 2 * 2 * 6
    assert all((a.folder / r).read_bytes() == (b.ensure() / r).read_bytes() for r in files)
    other = reg.create("dataset", "synthetic", {"root": str(tmp_path / "a"), **opts, "seed": 1})
    assert other.folder != a.folder
    assert (other.ensure() / files[0]).read_bytes() != (a.folder / files[0]).read_bytes()
    meta = json.loads((a.folder / "COMPLETE").read_text())
    assert meta["generator_version"] == synthetic.GENERATOR_VERSION == 3
    assert (meta["id_similarity"], meta["difficulty"]) == (0.3, 2.0)
    cfg = resolve({"data.id_similarity": 0.3}, reg)
    assert (cfg["data.id_similarity"], cfg["data.difficulty"]) == (0.3, 1.0)
    assert resolve({}, reg).run_id != cfg.run_id  # the option is part of a run's identity


# --- IDs --------------------------------------------------------------------------------------


def test_the_dataset_offers_every_type_the_generator_makes():
    assert SYNTHETIC_TYPES == synth.TYPES


def test_ids_are_machines_of_one_model_differing_in_several_properties():
    a, b = machine("fan", 0), machine("fan", 2)
    assert 0.01 < abs(a.rot_hz / b.rot_hz - 1) < 0.08  # speeds a few % apart
    assert np.abs(a.amps_db - b.amps_db).max() > 2.0  # harmonic profile
    assert np.abs(a.res_f / b.res_f - 1).max() > 0.03  # structural resonances
    assert abs(a.noise_tilt - b.noise_tilt) > 0.1 and abs(a.noise_db - b.noise_db) > 0.1
    assert a.am_depth != b.am_depth  # modulation
    assert np.array_equal(a.orders, b.orders) and a.pass_order == b.pass_order == 7
    # id_similarity scales every deviation, in the same direction; 1 makes the IDs identical
    half, same = machine("fan", 0, 0.5), machine("fan", 0, 1.0)
    nominal = same.rot_hz
    assert half.rot_hz - nominal == pytest.approx(0.5 * (a.rot_hz - nominal))
    assert same.rot_hz == machine("fan", 2, 1.0).rot_hz
    assert np.array_equal(same.res_f, machine("fan", 1, 1.0).res_f)


def test_near_identical_type_ids_differ_least_and_similarity_closes_the_gap(steady):
    """How alike the machines are, measured on their sound in one operating state and without
    the recordings' colouration (normal variation every ID shares, which would hide it)."""
    audio = AudioSpec(SR, 1.0)

    def id_distance(machine_type: str, similarity: float = 0.0) -> float:
        """Mean over ID pairs and features of |difference of the IDs' mean log-Mel statistics|
        in units of their within-ID spread (how separable the IDs' normal sounds are)."""
        per_id = [log_mel_stats([synth.render(machine(machine_type, i, similarity),
                                              np.random.default_rng([i, k]), audio)
                                 for k in range(24)]) for i in range(3)]
        spread = np.sqrt(np.mean([f.var(0) for f in per_id], 0))
        return float(np.mean([np.mean(np.abs(per_id[i].mean(0) - per_id[j].mean(0)) / spread)
                              for i in range(3) for j in range(i + 1, 3)]))

    distances = {t: id_distance(t) for t in synth.TYPES}
    steady_types = [distances[t] for t in ("fan", "pump", "gearbox")]
    assert distances["conveyor"] < 0.6 * min(steady_types), distances
    # the valve's clip statistics vary with the clicks a clip holds: its IDs' statistics are
    # almost as close (generator version 3: 0.33 against the conveyor's 0.31, the others 0.6-1)
    assert distances["conveyor"] < distances["valve"], distances
    assert id_distance("fan", 0.9) < 0.5 * distances["fan"]


def test_fault_severity_varies_per_clip_and_per_id():
    strengths = sorted(machine("pump", i).strength for i in range(3))
    weakest = synth.ID_STRENGTHS[1]
    assert strengths == pytest.approx([weakest, np.sqrt(weakest), 1.0])
    rng = np.random.default_rng(0)
    picks = [synth.pick_fault(machine("pump", 0), ANOMALY, k, rng, 1.0) for k in range(40)]
    assert [f for f, _ in picks[:4]] == list(faults.FAULTS["pump"])
    sev = np.array([s for _, s in picks]) / machine("pump", 0).strength
    low, high = synth.SEVERITY
    assert low <= sev.min() < low + 0.1 and high - 0.1 < sev.max() <= high
    assert synth.pick_fault(machine("pump", 0), NORMAL, 0, rng, 1.0) == (None, 0.0)
    # difficulty divides the severity
    a = synth.pick_fault(machine(), ANOMALY, 1, np.random.default_rng(3), 1.0)[1]
    assert synth.pick_fault(machine(), ANOMALY, 1, np.random.default_rng(3), 2.0)[1] == a / 2


# --- faults change the ID's own signature ---------------------------------------------------


def test_imbalance_raises_the_1x_order_by_its_documented_level_and_adds_sidebands(steady):
    m = machine("fan", 1)
    normal, faulty = pair(m, "imbalance", 1.0)
    blade = 7 * m.rot_hz  # the 7x carrier is not touched by the fault
    rise = ((peak_db(faulty, m.rot_hz) - peak_db(faulty, blade))
            - (peak_db(normal, m.rot_hz) - peak_db(normal, blade)))
    assert rise == pytest.approx(faults.IMBALANCE_DB, abs=2.0)
    # 1x modulation of depth 0.3: sidebands at 7x +- 1x, 20 log10(0.3 / 2) = -16.5 dB
    side = peak_db(faulty, 8 * m.rot_hz, 0.01) - peak_db(faulty, blade, 0.01)
    assert side == pytest.approx(20 * np.log10(faults.IMBALANCE_AM / 2), abs=3.0)
    # (the normal clip's reading at 8x is the flow noise's floor, about 4 dB lower)
    assert peak_db(normal, 8 * m.rot_hz, 0.01) - peak_db(normal, blade, 0.01) < side - 3


def test_bearing_wear_moves_the_resonance_up_and_adds_impulses_at_the_bearing_frequency(steady):
    m = machine("pump", 0)
    worn = faults.apply_fault(m, "bearing", 0.5, np.random.default_rng(0), SR)
    assert worn.res_f[-1] == pytest.approx(m.res_f[-1] * (1 + 0.5 * faults.BEARING_SHIFT))
    assert worn.res_db[-1] == pytest.approx(m.res_db[-1] + 0.5 * faults.BEARING_GAIN_DB)
    assert np.array_equal(worn.res_f[:-1], m.res_f[:-1])
    normal, faulty = pair(m, "bearing", 1.0)
    # the envelope of the resonance band beats at bearing_order x speed
    f, _ = spectrum(faulty)
    centre = m.res_f[-1] * (1 + faults.BEARING_SHIFT)
    rate = m.bearing_order * m.rot_hz

    def envelope_peak(x: np.ndarray) -> float:
        spec = np.fft.rfft(x)
        spec[(f < centre * 0.85) | (f > centre * 1.15)] = 0
        env = np.abs(np.fft.irfft(spec, len(x)) + 1j * np.imag(_hilbert(x, spec)))
        return peak_db(env - env.mean(), rate, 0.02) - band_db(env - env.mean(), 5, 500) / 2

    assert envelope_peak(faulty) > envelope_peak(normal) + 10


def _hilbert(x: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Analytic signal of the band-passed ``x`` (``spec`` its masked rfft)."""
    full = np.zeros(len(x), complex)
    full[:len(spec)] = spec
    full[1:len(spec) - 1] *= 2
    return np.fft.ifft(full)


def test_damaged_blade_changes_the_pass_harmonic_profile_and_modulates_once_per_rev(steady):
    m = machine("fan", 0)
    normal, faulty = pair(m, "blade", 1.0)
    # the fault's draws: render splits the fault's stream off first (see pair's seed, 5)
    fault_rng = np.random.default_rng(np.random.default_rng(5).integers(2 ** 63))
    drawn = faults.apply_fault(m, "blade", 1.0, fault_rng, SR).amps_db - m.amps_db
    orders = [7 * k for k in (1, 2, 3, 4)]
    drawn = np.array([drawn[list(m.orders).index(o)] for o in orders])
    assert np.all(np.abs(drawn) <= faults.PASS_DB) and np.mean(np.abs(drawn)) > 0.4 * faults.PASS_DB
    # measured in the clips: each pass harmonic moved by its drawn change, relative to the
    # others (the tonal part is normalised to unit RMS, which moves every order alike)
    change = np.array([peak_db(faulty, o * m.rot_hz, 0.005) - peak_db(normal, o * m.rot_hz, 0.005)
                       for o in orders])
    assert change - change.mean() == pytest.approx(drawn - drawn.mean(), abs=2.0)
    # once-per-revolution modulation of the pass harmonics: sidebands at 7x +- 1x
    side = peak_db(faulty, 6 * m.rot_hz, 0.01) - peak_db(faulty, 7 * m.rot_hz, 0.01)
    assert side > peak_db(normal, 6 * m.rot_hz, 0.01) - peak_db(normal, 7 * m.rot_hz, 0.01) + 4


def test_loosened_mounts_move_every_resonance_down(steady):
    m = machine("gearbox", 1)
    loose = faults.apply_fault(m, "mount", 1.0, np.random.default_rng(0), SR)
    assert loose.res_f == pytest.approx(m.res_f * (1 - faults.MOUNT_SHIFT))
    f = np.linspace(100, 6000, 20000)
    for k, fc in enumerate(m.res_f):  # each resonance alone: its peak moves by the shift
        alone = replace(m, res_f=m.res_f[k:k + 1], res_bw=m.res_bw[k:k + 1],
                        res_db=m.res_db[k:k + 1])
        moved = faults.apply_fault(alone, "mount", 1.0, np.random.default_rng(0), SR)
        peak = f[np.argmax(synth.structure_response(moved, f))]
        assert peak == pytest.approx(fc * (1 - faults.MOUNT_SHIFT), rel=0.002)
    # in a clip of a fan (loud flow noise through the structure): energy moves below each peak
    fan = machine("fan", 1)
    normal, faulty = pair(fan, "mount", 1.0)
    for fc in fan.res_f:
        lo, hi = fc * (1 - faults.MOUNT_SHIFT) * 0.96, fc * (1 - faults.MOUNT_SHIFT) * 1.04
        below = band_db(faulty, lo, hi) - band_db(normal, lo, hi)
        above = band_db(faulty, fc, fc * 1.06) - band_db(normal, fc, fc * 1.06)
        assert below > above + 3


@pytest.mark.parametrize(("machine_type", "fault"), [("pump", "cavitation"), ("valve", "leak")])
def test_leaks_and_cavitation_add_sound_in_a_band_the_id_lacks(machine_type, fault, steady):
    m = machine(machine_type, 2)
    lo, hi = faults.leak_band(m, SR)
    assert lo > m.noise_band[1] * 1.2
    normal, faulty = pair(m, fault, 1.0)
    added = faulty - normal  # equal streams: exactly the fault's sound
    total = band_db(added, 0, SR / 2)
    assert band_db(added, lo, hi) > total - 3  # most of it in the band (soft band edges)
    assert band_db(added, 0, m.noise_band[1]) < total - 10  # hardly any in the ID's band
    # at LEAK_DB relative to the machine; the clip also holds the room (up to 0 dB more)
    level = 20 * np.log10(synth.rms(added) / synth.rms(normal))
    assert faults.LEAK_DB - 3.5 < level < faults.LEAK_DB + 0.5


def test_a_sticking_valve_closes_late_bounces_and_rings_longer():
    m = machine("valve", 0)
    period = m.event_period
    opens, closes, freq, decay = faults.valve_timing(m, np.random.default_rng(1), 20.0, 1.0,
                                                     None, 0.0)
    s_opens, s_closes, s_freq, s_decay = faults.valve_timing(m, np.random.default_rng(1), 20.0,
                                                             1.0, "sticking", 1.0)
    assert np.mean(closes - opens) == pytest.approx(m.event_duty * period, rel=0.05)
    long_ = np.sort(s_closes - s_opens)[-len(opens) // 2:]  # bounces are the short ones
    assert np.mean(long_) > m.event_duty * period + 0.5 * faults.STICK_DELAY * period
    assert len(s_opens) > len(opens) + 5  # bounces re-open the valve
    assert s_freq == pytest.approx(0.92 * freq) and s_decay == pytest.approx(1.8 * decay)


def test_the_valve_is_strongly_non_stationary_and_the_fan_is_not():
    audio = AudioSpec(SR, 2.0)

    def frame_level_spread(machine_type: str) -> float:
        x = synth.render(machine(machine_type), np.random.default_rng(0), audio)
        frames = x[: len(x) // 512 * 512].reshape(-1, 512)
        return float(np.std(10 * np.log10(np.mean(frames ** 2, 1))))

    assert frame_level_spread("valve") > 3 * frame_level_spread("fan")


# --- a tiny run detects faults ---------------------------------------------------------------


# Measured on EASY_RUN, average AUC of arcface: 0.897 (seed 0) on generator version 3; 0.770
# (seed 0) / 0.786 (seed 1) on version 2; the reference far above. With 16 training clips
# per ID the classifier stayed near chance whatever the epochs: the number of distinct clips
# is what it needs.


@pytest.mark.parametrize("components", [
    pytest.param({"method": "gaussian", "backbone": "stats", "scorer": "mahalanobis"},
                 id="reference"),
    pytest.param({"method": "arcface"}, id="arcface"),
])
def test_a_tiny_default_like_run_beats_chance_clearly(tmp_path, components):
    from asdbench.run.pipeline import train_and_evaluate

    cfg = resolve({**EASY_RUN, **components, "data.root": str(tmp_path)}, get_registry())
    metrics, run = train_and_evaluate(cfg, tmp_path / "results", progress=False)
    assert metrics["protocols"]["dcase2020"]["average"]["auc"] >= 0.70
    path = run.path / "train_log.jsonl"
    log = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    if components["method"] == "gaussian":  # nothing trained: no epochs, nothing logged
        assert metrics["epochs"] == 0 and log == []
    else:
        assert len(log) == cfg["train.epochs"]
        assert all(0 <= r["val_acc_no_margin"] <= 1 for r in log)
        assert log[-1]["val_acc_no_margin"] >= 0.9  # held-out clips, told apart by ID
