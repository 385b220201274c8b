"""EAT equals the publishers' implementation (cwx-worst-one/EAT, models/) to 1e-5.

The fixtures hold that implementation's outputs, with ASDKit's EAT preprocessing, on a
checkpoint whose weights ``seeded.seeded_state`` draws under the official key names and on
``seeded.fixed_waves`` (NOTES.md, "EAT faithfulness fixtures"): the fbank, every token of the
last layer (CLS first) and of an inner layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from asdbench.sdk import AudioSpec
from asdbench_encoders import eat
from asdbench_encoders.frontends import eat_frontend
from asdbench_encoders.options import EAT_OPTIONS
from asdbench_encoders.tests.seeded import compare, fixed_waves, seeded_state, summary

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = 1e-5


def _fixture(case: str) -> dict:
    return json.loads((FIXTURES / f"eat_{case}.json").read_text())


def official_state(cfg: dict, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights of an EAT of size ``cfg`` under the fairseq model's key names (drawn
    in their sorted order, as the fixture script drew them)."""
    model = eat.EAT(cfg)
    names = eat.official_names(model.state_dict())
    return seeded_state({k: tuple(v.shape) for k, v in names.items()}, seed)


def hf_names(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official names -> the Hugging Face port's (``model.`` prefix, ``pre_norm``)."""
    out = {}
    for key, value in official.items():
        key = key.replace("modality_encoders.IMAGE.context_encoder.norm.", "pre_norm.")
        out["model." + key.replace("modality_encoders.IMAGE.", "")] = value.contiguous()
    return out


def _seeded_model(fx: dict) -> eat.EAT:
    model = eat.EAT(fx["cfg"]).eval()
    model.load_state_dict(eat.rename(official_state(fx["cfg"], fx["seed"])))
    return model


def _check(case: str) -> dict[str, float]:
    fx = _fixture(case)
    model = _seeded_model(fx)
    waves = fixed_waves(fx["batch"], fx["samples"], fx["wave_seed"])
    with torch.no_grad():
        fbank = eat.preprocess(waves)
        assert fbank.shape[1] == fx["target_length"]
        diffs = {"fbank": compare(summary(fbank), fx["fbank"]),
                 "tokens": compare(summary(model.tokens(fbank)), fx["tokens"]),
                 "layer": compare(summary(model.tokens(fbank, fx["layer"])),
                                  fx["layer_tokens"])}
    assert max(diffs.values()) <= TOLERANCE, diffs
    return diffs


def test_tiny_eat_equals_the_reference():
    _check("tiny")


@pytest.mark.slow
def test_full_size_eat_equals_the_reference():
    _check("full")


def _cls_of(frontend, fx: dict) -> torch.Tensor:
    waves = fixed_waves(fx["batch"], fx["samples"], fx["wave_seed"])
    tokens = frontend(waves, frontend.features(waves))  # [B, 1, D, 1]
    return tokens[:, 0, :, 0]


@pytest.mark.parametrize("layout", ["official", "huggingface"])
def test_a_published_layout_loads_and_gives_the_reference_cls_token(tmp_path, layout):
    fx = _fixture("tiny")
    official = official_state(fx["cfg"], fx["seed"])
    if layout == "official":
        path = tmp_path / "tiny.pt"
        torch.save({"model": official, "cfg": fx["cfg"]}, path)
    else:
        path = tmp_path / "tiny.safetensors"
        save_file(hf_names(official), str(path), metadata={"cfg": json.dumps(fx["cfg"])})
    options = {**{k: v.default for k, v in EAT_OPTIONS.items()}, "checkpoint": str(path),
               "tokens": "cls"}
    audio = AudioSpec(sample_rate=16000, clip_seconds=fx["samples"] / 16000)
    cls = _cls_of(eat_frontend(options, audio), fx)
    reference = torch.tensor(fx["tokens"]["corner"])[:, 0]  # the CLS token's first dims
    assert (cls[:, : reference.shape[1]] - reference).abs().max() <= TOLERANCE


def test_sizes_come_from_the_checkpoint_and_heads_default_to_64_channels():
    shapes = eat.official_names(eat.EAT(eat.ARCHS["base"]).state_dict())
    state = eat.rename(hf_names({k: torch.zeros(()).expand(v.shape) for k, v in shapes.items()}))
    assert eat.config_from_state(state) == {
        "embed_dim": 768, "num_heads": 12, "depth": 12, "ffn_dim": 3072, "patch_size": 16}


def test_the_published_preprocessing_constants():
    # cwx-worst-one/EAT feature_extract/feature_extract.py; ASDKit eat/tools.py
    assert (eat.FBANK_MEAN, eat.FBANK_STD) == (-4.268, 4.569)
    assert eat.FBANK_OPTIONS["window_type"] == "hanning" and eat.FBANK_OPTIONS["htk_compat"]
    assert eat.target_frames(160000) == 1024 and eat.grid(160000, eat.ARCHS["base"]) == (64, 8)
    assert eat.target_frames(16000) == 128
