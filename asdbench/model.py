"""The assembled anomaly detector: frontend → backbone → method head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from asdbench.config import component_options
from asdbench.data import AudioSpec
from asdbench.registry import Registry
from asdbench.sdk.protocols import FrontendInfo


class ASDModel(nn.Module):
    """Frontend, backbone and method as one module (the unit that is trained, EMA'd and saved)."""

    def __init__(self, frontend: nn.Module, backbone: nn.Module, method: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.method = method

    def forward(self, wave: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Backbone embedding ``z`` of a batch (before the method's head)."""
        return self.backbone(self.frontend(wave, feats))

    def loss(self, wave, feats, y_a, y_b, lam):
        return self.method.loss(self(wave, feats), y_a, y_b, lam)

    @torch.no_grad()
    def infer(self, wave: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor):
        """``(embedding, logits)`` used by scorers, for clips of known class ``labels``."""
        e = self.method.embed(self(wave, feats))
        return e, self.method.logits(e, labels)


def build_model(cfg: dict[str, Any], registry: Registry, audio: AudioSpec,
                num_classes: int) -> ASDModel:
    """Create the frontend, backbone and method named in a resolved config. The method learns
    of its input only what the frontend declares (``FrontendInfo``: shape and traits)."""
    frontend = registry.create("frontend", cfg["frontend"], component_options(cfg, "frontend"),
                               audio=audio)
    backbone = registry.create("backbone", cfg["backbone"], component_options(cfg, "backbone"),
                               in_shape=tuple(frontend.out_shape))
    method = registry.create("method", cfg["method"], component_options(cfg, "method"),
                             num_classes=num_classes, embedding_dim=backbone.embedding_dim,
                             frontend_info=FrontendInfo.of(frontend))
    return ASDModel(frontend, backbone, method)
