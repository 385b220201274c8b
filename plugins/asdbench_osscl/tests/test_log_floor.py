"""The Noisy-ArcMix log-Mel floor (``frontend.log_floor = "add"``): its formula, its own
feature cache, and the default that leaves earlier run ids and caches alone."""

from __future__ import annotations

import sys

import pytest
import torch
import torchaudio

from asdbench.config import resolve
from asdbench.data import AudioSpec
from asdbench.plugins import load_plugins


@pytest.fixture(scope="module")
def registry():
    return load_plugins().registry


def _frontend(registry, name, audio, **options):
    return registry.create("frontend", name, options, audio=audio)


def test_added_floor_is_the_noisy_arcmix_formula(registry):
    audio = AudioSpec(16000, 1.0)
    wave = torch.randn(2, 16000)
    wave[1] = 0.0  # silence: the floor decides every value
    frontend = _frontend(registry, "tastgram", audio, log_floor="add")
    # soonhyeon/Noisy-ArcMix dataloader.py lines 12-15
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=2048, hop_length=512, n_mels=128, power=2,
        pad_mode="constant", norm="slaney", mel_scale="slaney")(wave)
    expected = 20.0 / 2 * torch.log10(mel + sys.float_info.epsilon)
    got = frontend.features(wave)
    torch.testing.assert_close(got, expected)
    assert got[1].max().item() == pytest.approx(10 * torch.log10(torch.tensor(2.220446e-16)).item())
    clamped = _frontend(registry, "tastgram", audio).features(wave)
    assert clamped[1].max().item() == pytest.approx(-100.0)  # 10*log10(1e-10)
    assert frontend.feature_key != _frontend(registry, "tastgram", audio).feature_key


def test_default_floor_keeps_run_ids_and_the_feature_key(registry):
    cfg = resolve({"frontend": "tastgram", "method": "noisy-arcmix"}, registry)
    assert "frontend.log_floor" not in cfg  # at its default: out of the config and the id
    added = resolve({"frontend": "tastgram", "method": "noisy-arcmix",
                     "frontend.log_floor": "add"}, registry)
    assert added["frontend.log_floor"] == "add" and added.run_id != cfg.run_id
    assert resolve(added.to_flat(), registry) == added
    assert resolve({**cfg, "frontend.log_floor": "clamp"}, registry).run_id == cfg.run_id
    key = _frontend(registry, "logmel", AudioSpec(16000, 1.0)).feature_key
    assert "log_floor" not in key
