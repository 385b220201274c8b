"""The assembled anomaly detector: frontend → backbone → method head."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from asdbench.config import component_options
from asdbench.data import AudioSpec
from asdbench.registry import AsdbenchError, Registry
from asdbench.sdk.protocols import FrontendInfo, has_own_score

# The keyword a method factory names to receive the run's classes (``"<type>/<id>"``, in label
# order): methods with one network per machine type group the classes by it.
CLASS_NAMES = "class_names"


class ASDModel(nn.Module):
    """Frontend, backbone and method as one module (the unit that is trained, EMA'd and saved)."""

    def __init__(self, frontend: nn.Module, backbone: nn.Module, method: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.method = method

    @property
    def own_score(self) -> bool:
        """Whether the method's ``logits`` are its own anomaly scores (``own_score = True``)."""
        return has_own_score(self.method)

    def forward(self, wave: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Backbone embedding ``z`` of a batch (before the method's head)."""
        return self.backbone(self.frontend(wave, feats))

    def loss(self, wave, feats, y_a, y_b, lam):
        """``(loss, logits)``; ``logits`` is None for a method without class logits."""
        return self.method.loss(self(wave, feats), y_a, y_b, lam)

    @torch.no_grad()
    def infer(self, wave: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor):
        """``(embedding, logits)`` used by scorers, for clips of known class ``labels``
        (``logits``: the method's anomaly scores per class when it has its own score)."""
        e = self.method.embed(self(wave, feats))
        return e, self.method.logits(e, labels)


def takes_keyword(factory: Callable[..., Any], name: str) -> bool:
    """Whether ``factory`` accepts keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: pass only the contract
        return False
    return any((p.name == name and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
               for p in params)


def build_model(cfg: dict[str, Any], registry: Registry, audio: AudioSpec, num_classes: int,
                class_names: Sequence[str] | None = None) -> ASDModel:
    """Create the frontend, backbone and method named in a resolved config. The method learns
    of its input only what the frontend declares (``FrontendInfo``: shape and traits), and,
    when its factory takes a ``class_names`` keyword, the classes (None when unknown, e.g.
    ``asdbench describe``, which sizes a model by its class count alone)."""
    if class_names is not None and len(class_names) != num_classes:
        raise AsdbenchError(f"{len(class_names)} class names for {num_classes} classes")
    frontend = registry.create("frontend", cfg["frontend"], component_options(cfg, "frontend"),
                               audio=audio)
    backbone = registry.create("backbone", cfg["backbone"], component_options(cfg, "backbone"),
                               in_shape=tuple(frontend.out_shape))
    method = build_method(cfg, registry, num_classes, int(backbone.embedding_dim),
                          FrontendInfo.of(frontend), class_names)
    return ASDModel(frontend, backbone, method)


def build_method(cfg: dict[str, Any], registry: Registry, num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo, class_names: Sequence[str] | None = None) -> Any:
    """The method of ``cfg`` for a backbone of ``embedding_dim`` behind a frontend declaring
    ``frontend_info`` (``class_names`` passed when its factory takes them)."""
    extra: dict[str, Any] = {}
    if takes_keyword(registry.get("method", cfg["method"]).load_factory(), CLASS_NAMES):
        extra[CLASS_NAMES] = None if class_names is None else tuple(class_names)
    return registry.create("method", cfg["method"], component_options(cfg, "method"),
                           num_classes=num_classes, embedding_dim=embedding_dim,
                           frontend_info=frontend_info, **extra)
