"""The three training modes of an encoder frontend, on the tiny BEATs, through the engine:
frozen (nothing reaches the encoder, its outputs cached once), lora (only adapters and head
change), full (every weight trains, the encoder at a smaller learning rate)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from asdbench import plugins
from asdbench.config import resolve
from asdbench.registry import Registry
from asdbench.run.loop import make_optimizer
from asdbench.run.pipeline import train_and_evaluate
from asdbench.sdk import Option
from asdbench.testing import TINY_RUN, check_training_step, installed_registry
from asdbench_encoders import beats, frontends
from asdbench_encoders.tests.seeded import seeded_state

REGISTRY = installed_registry()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny BEATs checkpoint in the published format (seeded weights)."""
    cfg = beats.ARCHS["tiny"]
    model = beats.BEATs(cfg)
    state = seeded_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=3)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save({"cfg": cfg, "model": state}, path)
    return path


@pytest.fixture
def built(monkeypatch):
    """Every encoder frontend built from here on (the live model's, not the EMA copy)."""
    made = []
    real = frontends.EncoderFrontend.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(frontends.EncoderFrontend, "__init__", spy)
    return made


def _run(tmp_path, checkpoint, **settings):
    cfg = resolve({**TINY_RUN, "frontend": "beats", "backbone": "pool", "method": "arcface",
                   "frontend.checkpoint": str(checkpoint), "train.epochs": 1, **settings},
                  plugins.get_registry())
    return train_and_evaluate(cfg, tmp_path / "results", progress=False)


def _encoder_tensors(frontend) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in frontend.encoder.state_dict().items()}


@pytest.mark.slow
def test_frozen_encoder_gets_no_gradient_stays_identical_and_is_run_once(tmp_path, checkpoint,
                                                                         built):
    saved = torch.load(checkpoint, weights_only=True)["model"]
    metrics, run = _run(tmp_path, checkpoint, **{"frontend.mode": "frozen", "scorer": "knn"})
    live = built[0]
    assert all(p.grad is None and not p.requires_grad for p in live.encoder.parameters())
    after = live.encoder.state_dict()
    assert saved.keys() == after.keys()
    assert all(torch.equal(saved[k], after[k]) for k in saved)  # byte-identical
    assert not any(k.startswith("frontend.encoder.") for k in run.load_model())  # not saved
    key = live.feature_key
    clips = frontends.EXTRACTED[key]
    assert clips == metrics["config"]["data.ids_per_type"] * 2 * (16 + 12)  # train + test, once
    _run(tmp_path, checkpoint, **{"frontend.mode": "frozen", "scorer": "mahalanobis"})
    assert frontends.EXTRACTED[key] == clips  # the second scorer read the cache


@pytest.mark.slow
def test_lora_trains_only_the_adapters_and_the_head(tmp_path, checkpoint, built):
    saved = torch.load(checkpoint, weights_only=True)["model"]
    _, run = _run(tmp_path, checkpoint, **{"frontend.mode": "lora", "frontend.lora_rank": 4,
                                           "frontend.lora_alpha": 8.0})
    live = built[0]
    after = _encoder_tensors(live)
    lora = {k: v for k, v in after.items() if "lora_" in k}
    base = {k.replace(".base_layer", ""): v for k, v in after.items() if "lora_" not in k}
    assert base.keys() == saved.keys()
    assert all(torch.equal(saved[k], base[k]) for k in saved)  # pretrained weights untouched
    layers = beats.ARCHS["tiny"]["encoder_layers"]
    assert len(lora) == 2 * 2 * layers  # A and B of q_proj and v_proj in every layer
    assert all(v.shape[0] == 4 for k, v in lora.items() if "lora_A" in k)
    assert any(v.abs().sum() > 0 for k, v in lora.items() if "lora_B" in k)  # B starts at 0
    trained = {n for n, p in live.named_parameters() if p.requires_grad}
    assert trained == {f"encoder.{k}" for k in lora}
    model_keys = set(run.load_model())
    assert {k for k in model_keys if k.startswith("frontend.")} == {f"frontend.encoder.{k}"
                                                                    for k in lora}
    assert any(k.startswith("method.") for k in model_keys)


def _registry(**defaults) -> Registry:
    """The installed components, ``beats`` with other option defaults (the contract kit
    builds components with their defaults)."""
    registry = Registry()
    for component in installed_registry():
        if component.kind == "frontend" and component.name == "beats":
            options = dict(component.options)
            for key, value in defaults.items():
                options[key] = dataclasses.replace(options[key], default=value)
            component = dataclasses.replace(component, options=options)
        registry.add(component.kind, component)
    return registry


@pytest.mark.parametrize("method", ["arcface", "subcluster-adacos", "adaproj", "os-scl"])
def test_contract_in_full_mode(method):
    """The kit's training step in mode full: every encoder weight gets a finite, non-zero
    gradient (mode frozen, the default, is in the core's component matrix)."""
    check_training_step(_registry(mode="full", tokens="all"), ("beats", "pool", method))


def test_lora_adapters_are_the_encoders_only_trainable_weights_and_get_gradients():
    """LoRA starts with B = 0 (peft's default, as the LoRA paper), so at the first step only
    B gets a gradient; once B moved, A does too. The kit asks every trainable weight for a
    gradient at the first step, so LoRA is checked here instead."""
    registry = _registry(mode="lora", tokens="all", lora_rank=4)
    from asdbench.model import build_model

    torch.manual_seed(0)
    model = build_model({"frontend": "beats", "backbone": "pool", "method": "arcface"},
                        registry, frontends_audio(), 3).train()
    wave = 0.1 * torch.randn(4, 16000)
    labels = torch.tensor([0, 0, 1, 2])

    def step():
        model.zero_grad(set_to_none=True)
        loss, _ = model.loss(wave, model.frontend.features(wave), labels, labels, 1.0)
        loss.backward()
        return {n: p.grad for n, p in model.frontend.named_parameters() if p.requires_grad}

    grads = step()
    assert grads and all("lora_" in n for n in grads)
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    with torch.no_grad():
        for n, p in model.frontend.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.01)
    assert all(g.abs().sum() > 0 for g in step().values())


def test_full_mode_trains_every_encoder_weight_at_a_smaller_learning_rate():
    cfg = resolve({**TINY_RUN, "frontend": "beats", "backbone": "pool", "method": "arcface",
                   "frontend.mode": "full", "frontend.encoder_lr_scale": 0.1},
                  plugins.get_registry())
    from asdbench.model import build_model

    model = build_model(cfg, plugins.get_registry(), frontends_audio(), 3)
    encoder = list(model.frontend.encoder.parameters())
    assert encoder and all(p.requires_grad for p in encoder)
    opt = make_optimizer(model, cfg.train)
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert all(lrs[id(p)] == pytest.approx(cfg.train.lr * 0.1) for p in encoder)
    assert lrs[id(model.method.weight)] == cfg.train.lr
    assert opt.param_groups[0]["lr"] == cfg.train.lr  # the head's: what the log shows


def frontends_audio():
    from asdbench.sdk import AudioSpec

    return AudioSpec(sample_rate=16000, clip_seconds=1.0)


def test_pool_options():
    assert isinstance(REGISTRY.get("backbone", "pool").options["pooling"], Option)
