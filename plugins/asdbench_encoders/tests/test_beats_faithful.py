"""BEATs equals the publishers' implementation (microsoft/unilm, beats/) to 1e-5.

The fixtures hold that implementation's outputs on a checkpoint whose weights
``seeded.seeded_state`` draws and on ``seeded.fixed_waves`` (NOTES.md, "Faithfulness"):
preprocessing (fbank), the last layer's tokens and an inner layer's tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from asdbench.sdk import AudioSpec
from asdbench_encoders import beats
from asdbench_encoders.frontends import beats_frontend
from asdbench_encoders.options import BEATS_OPTIONS
from asdbench_encoders.tests.seeded import compare, fixed_waves, seeded_state, summary

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = 1e-5


def _fixture(case: str) -> dict:
    return json.loads((FIXTURES / f"beats_{case}.json").read_text())


def _seeded_model(fx: dict) -> beats.BEATs:
    model = beats.BEATs(fx["cfg"]).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state(shapes, fx["seed"]))
    return model


def _check(case: str) -> dict[str, float]:
    fx = _fixture(case)
    model = _seeded_model(fx)
    waves = fixed_waves(fx["batch"], fx["samples"], fx["wave_seed"])
    with torch.no_grad():
        diffs = {"fbank": compare(summary(beats.preprocess(waves)), fx["fbank"]),
                 "tokens": compare(summary(model(waves)), fx["tokens"]),
                 "layer": compare(summary(model(waves, layer=fx["layer"])), fx["layer_tokens"])}
    assert max(diffs.values()) <= TOLERANCE, diffs
    return diffs


def test_tiny_beats_equals_the_reference():
    _check("tiny")


@pytest.mark.slow
def test_full_size_beats_equals_the_reference():
    _check("full")


def test_a_checkpoint_in_the_published_format_loads_and_gives_the_reference_tokens(tmp_path):
    fx = _fixture("tiny")
    model = _seeded_model(fx)
    path = tmp_path / "tiny.pt"
    torch.save({"cfg": fx["cfg"], "model": model.state_dict()}, path)
    options = {**{k: v.default for k, v in BEATS_OPTIONS.items()}, "checkpoint": str(path),
               "tokens": "all"}
    audio = AudioSpec(sample_rate=16000, clip_seconds=fx["samples"] / 16000)
    frontend = beats_frontend(options, audio)
    waves = fixed_waves(fx["batch"], fx["samples"], fx["wave_seed"])
    tokens = frontend(waves, frontend.features(waves))  # [B, 1, D, N]
    assert compare(summary(tokens[:, 0].transpose(1, 2)), fx["tokens"]) <= TOLERANCE


def test_the_published_preprocessing_constants():
    # microsoft/unilm beats/BEATs.py: BEATs.preprocess
    assert (beats.WAVE_SCALE, beats.FBANK_MEAN, beats.FBANK_STD) == (2 ** 15, 15.41663, 6.55582)
    assert beats.fbank_frames(160000) == 998 and beats.grid(160000, beats.ARCHS["base"]) == (62, 8)
