"""Recomputing BatchNorm statistics for short runs covers every BatchNorm the scorers see."""

from __future__ import annotations

import torch

from asdbench.config import resolve
from asdbench.data import AudioSpec, Clip
from asdbench.model import build_model
from asdbench.plugins import get_registry
from asdbench.run.evaluate import recalibrate_batchnorm
from asdbench.run.tensors import Split


def test_recalibration_recomputes_the_method_heads_batchnorm_too():
    torch.manual_seed(0)
    registry = get_registry()
    cfg = resolve({"method": "os-scl", "frontend": "logmel", "data.clip_seconds": 1.0},
                  registry)
    audio = AudioSpec(sample_rate=16000, clip_seconds=1.0)
    model = build_model(cfg, registry, audio, num_classes=2)
    n = 8
    waves = (torch.randn(n, audio.num_samples) * 3000).to(torch.int16)
    with torch.no_grad():
        feats = model.frontend.features(waves.float() / 32768)
    clips = [Clip(path=f"c{i}.wav", machine_type="fan", machine_id="00", split="train",
                  label=0) for i in range(n)]
    split = Split(clips, waves, feats, torch.zeros(n, dtype=torch.long))
    head_bns = [m for m in model.method.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert head_bns  # OS-SCL's feature perturbation head
    recalibrate_batchnorm(model, split, batches=1, batch_size=n, device=torch.device("cpu"),
                          amp=False)
    # the head's statistics are those of its inputs now, not the reset mean 0 / variance 1
    first = head_bns[0]
    assert first.num_batches_tracked.item() == 1
    assert not torch.allclose(first.running_var, torch.ones_like(first.running_var))
