"""A run of an encoder frontend checks its checkpoint before decoding any audio: a missing
file or one of another architecture stops it in one line (hook ``asdbench_check_run``)."""

from __future__ import annotations

import pytest
import torch

from asdbench import plugins
from asdbench.config import resolve
from asdbench.run import pipeline
from asdbench.sdk import AsdbenchError
from asdbench.testing import TINY_RUN
from asdbench_encoders import beats, eat, weights
from asdbench_encoders.tests.seeded import seeded_state


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if the run decodes any audio."""

    def refuse(*args, **kwargs):
        raise AssertionError("audio was decoded before the checkpoint was checked")

    monkeypatch.setattr(pipeline, "decode_data", refuse)


def _error(tmp_path, frontend: str, checkpoint: str) -> str:
    cfg = resolve({**TINY_RUN, "frontend": frontend, "backbone": "pool", "method": "arcface",
                   "frontend.checkpoint": checkpoint}, plugins.get_registry())
    with pytest.raises(AsdbenchError) as err:
        pipeline.train_and_evaluate(cfg, tmp_path / "results", progress=False)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("frontend,name", [("beats", "beats-iter3"), ("eat", "eat-base-e30-pt")])
def test_a_missing_checkpoint_stops_the_run_before_decoding(tmp_path, monkeypatch, no_decoding,
                                                            frontend, name):
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path / "w"))
    message = _error(tmp_path, frontend, name)
    assert f"asdbench weights fetch {name} --to {tmp_path / 'w'}" in message


def test_another_architecture_stops_the_run_before_decoding(tmp_path, no_decoding):
    tiny = beats.BEATs(beats.ARCHS["tiny"])
    state = seeded_state({k: tuple(v.shape) for k, v in tiny.state_dict().items()})
    path = tmp_path / "beats.pt"
    torch.save({"cfg": {**beats.ARCHS["tiny"], "encoder_layers": 3}, "model": state}, path)
    assert "missing keys (e.g. encoder.layers.2." in _error(tmp_path, "beats", str(path))
    path = tmp_path / "eat.pt"
    torch.save({"model": eat.official_names(eat.EAT(eat.ARCHS["tiny"]).state_dict()),
                "cfg": {**eat.ARCHS["tiny"], "ffn_dim": 256}}, path)
    assert "other shapes (e.g. blocks.0.mlp.fc1.weight" in _error(tmp_path, "eat", str(path))
