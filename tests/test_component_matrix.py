"""Every registered frontend × backbone × method trains one step on tiny 1 s clips.

Generated from the registry, so a newly installed plugin is tested without writing a test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from asdbench.data import AudioSpec
from asdbench.model import build_model
from asdbench.plugins import load_plugins

AUDIO = AudioSpec(sample_rate=16000, clip_seconds=1.0)
NUM_CLASSES = 3
LABELS = torch.tensor([0, 0, 1, 2])  # a shared class, so contrastive losses have positives

_REGISTRY = load_plugins().registry
COMBOS = list(itertools.product(_REGISTRY.names("frontend"), _REGISTRY.names("backbone"),
                                _REGISTRY.names("method")))


def test_registry_has_the_shipped_components():
    assert {"logmel", "stgram", "tfstgram", "tastgram"} <= set(_REGISTRY.names("frontend"))
    assert "mobilefacenet" in _REGISTRY.names("backbone")
    assert {"arcface", "arcmix", "noisy-arcmix", "os-scl"} <= set(_REGISTRY.names("method"))


@pytest.mark.parametrize(("frontend", "backbone", "method"), COMBOS,
                         ids=["-".join(c) for c in COMBOS])
def test_one_training_step(frontend, backbone, method):
    torch.manual_seed(0)
    cfg = {"frontend": frontend, "backbone": backbone, "method": method}
    model = build_model(cfg, _REGISTRY, AUDIO, NUM_CLASSES).train()
    wave = 0.1 * torch.randn(len(LABELS), AUDIO.num_samples)
    feats = model.frontend.features(wave)
    assert feats.shape[0] == len(LABELS)
    y_a, y_b, lam = LABELS, LABELS, 1.0
    if model.method.mixup:  # as the engine does: one λ and one permutation for wave and features
        lam = float(np.random.default_rng(0).beta(model.method.mixup_alpha,
                                                  model.method.mixup_alpha))
        perm = torch.tensor([2, 3, 0, 1])
        wave = lam * wave + (1 - lam) * wave[perm]
        feats = lam * feats + (1 - lam) * feats[perm]
        y_b = LABELS[perm]
    x = model.frontend(wave, feats)
    assert tuple(x.shape[1:]) == tuple(model.frontend.out_shape)
    loss, logits = model.loss(wave, feats, y_a, y_b, lam)
    assert loss.ndim == 0 and torch.isfinite(loss), f"loss {loss}"
    assert logits.shape == (len(LABELS), NUM_CLASSES)
    loss.backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{name}: no gradient"
            assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient"
            assert param.grad.abs().sum() > 0, f"{name}: zero gradient"

    model.eval()
    embedding, eval_logits = model.infer(wave, feats, LABELS)
    assert embedding.shape[0] == len(LABELS) and torch.isfinite(embedding).all()
    assert eval_logits.shape == (len(LABELS), NUM_CLASSES) and torch.isfinite(eval_logits).all()
