"""read_clip: decoding, mono, resampling, cut/pad and every rejected input."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asdbench.audio import AudioError, fit_length, read_clip
from asdbench.data import AudioSpec
from asdbench.registry import AsdbenchError

SPEC = AudioSpec(sample_rate=8000, clip_seconds=1.0)


def tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path: Path, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def test_plain_16bit_clip_is_read_exactly(tmp_path):
    ints = np.random.default_rng(0).integers(-20000, 20000, 8000).astype(np.int16)
    path = write(tmp_path / "a.wav", ints, 8000)
    notes = []
    x = read_clip(path, SPEC, notes=notes)
    assert x.dtype == np.float32 and x.shape == (8000,)
    np.testing.assert_array_equal(x, ints / np.float32(32768))
    assert notes == []


def test_stereo_is_averaged_and_noted(tmp_path):
    left, right = tone(1.0, 8000, 300), tone(1.0, 8000, 500, 0.25)
    path = write(tmp_path / "st.wav", np.stack([left, right], 1), 8000, "FLOAT")
    notes = []
    x = read_clip(path, SPEC, notes=notes)
    np.testing.assert_allclose(x, (left + right) / 2, atol=1e-6)
    assert notes == ["multi-channel: 2 channels averaged to mono"]


def test_other_rate_is_resampled_and_keeps_the_pitch(tmp_path):
    path = write(tmp_path / "hi.wav", tone(1.0, 22050, 1000.0), 22050, "FLOAT")
    notes = []
    x = read_clip(path, SPEC, notes=notes)
    assert x.shape == (8000,)
    peak_hz = np.argmax(np.abs(np.fft.rfft(x))) * 8000 / len(x)
    assert abs(peak_hz - 1000.0) <= 1.0
    assert notes == ["resampled: 22050 Hz to 8000 Hz"]


def test_longer_is_cut_to_its_start_and_shorter_is_zero_padded(tmp_path):
    long = tone(1.5, 8000, 200)
    notes = []
    x = read_clip(write(tmp_path / "long.wav", long, 8000, "FLOAT"), SPEC, notes=notes)
    np.testing.assert_allclose(x, long[:8000], atol=1e-7)
    assert notes[0].startswith("cut: 1.50 s")
    short = tone(0.75, 8000, 200)
    notes = []
    x = read_clip(write(tmp_path / "short.wav", short, 8000, "FLOAT"), SPEC, notes=notes)
    np.testing.assert_allclose(x[:6000], short, atol=1e-7)
    assert not x[6000:].any()
    assert notes[0].startswith("padded: 0.75 s")


@pytest.mark.parametrize(("name", "make", "category"), [
    ("too_short", lambda p: write(p, tone(0.3, 8000), 8000), "too short"),
    ("silent", lambda p: write(p, np.zeros(8000, np.float32), 8000), "silent"),
    ("nan", lambda p: write(p, np.r_[tone(0.5, 8000), np.full(4000, np.nan, np.float32)],
                            8000, "FLOAT"), "not finite"),
    ("inf", lambda p: write(p, np.r_[np.full(10, np.inf, np.float32), tone(1, 8000)],
                            8000, "FLOAT"), "not finite"),
    ("corrupt", lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 3),
     "unreadable"),
    ("empty", lambda p: write(p, np.zeros(0, np.float32), 8000), "empty"),
])
def test_bad_clips_raise_audio_error_naming_file_and_problem(tmp_path, name, make, category):
    path = tmp_path / f"{name}.wav"
    make(path)
    with pytest.raises(AudioError) as info:
        read_clip(path, SPEC)
    assert info.value.category == category
    assert str(path) in str(info.value) and category in str(info.value)
    assert isinstance(info.value, AsdbenchError)
    assert "\n" not in str(info.value)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        read_clip(tmp_path / "nope.wav", SPEC)


def test_min_fraction_is_configurable(tmp_path):
    path = write(tmp_path / "s.wav", tone(0.3, 8000), 8000)
    x = read_clip(path, SPEC, min_fraction=0.2)
    assert x.shape == (8000,) and not x[2400:].any()


def test_fit_length():
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 3), [0, 1, 2])
    np.testing.assert_array_equal(fit_length(x, 7), [0, 1, 2, 3, 4, 0, 0])
