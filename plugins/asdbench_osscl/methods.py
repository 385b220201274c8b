"""Training methods: ArcFace, ArcMix, Noisy-ArcMix, OS-SCL (FPH + noise-supervised SupCon) and
the SupCon ablation (OS-SCL without mixup noise).

Anomaly-score logits: the authors' evaluation calls ``net(wav, mel, label, train=False)``, whose
ArcFace layer still puts the margin on the clip's own class (``train`` only reshapes TFgram's
input). ``eval_margin=True`` (default) reproduces that; ``False`` scores on plain ``s·cos θ``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdbench.registry import AsdbenchError, float_option
from asdbench_osscl import losses

AUTO = "auto"
# OS-SCL paper, "Implementation Details": Log-Mel alone m=0.7 + LeakyReLU FPH; fused inputs
# (TFSTgram, and by extension STgram/TASTgram) m=0.4 + ReLU FPH.
LOGMEL_ONLY_FRONTENDS = frozenset({"logmel"})
ACTIVATIONS = ("relu", "leaky_relu")

ARCFACE_OPTIONS: dict[str, Any] = {"margin": 0.7, "scale": 30.0, "eval_margin": True}
MIXUP_OPTIONS: dict[str, Any] = {"mixup_alpha": 0.5}
SUPCON_OPTIONS: dict[str, Any] = {
    "margin": AUTO, "scale": 30.0, "eval_margin": True,
    "fph_reduction": 64, "fph_activation": AUTO,
    "temperature": 0.02, "base_temperature": 0.07,
}
OSSCL_OPTIONS: dict[str, Any] = {**SUPCON_OPTIONS, **MIXUP_OPTIONS}


def _number(options: dict[str, Any], key: str, *, positive: bool = False) -> float:
    return float_option(options, key, "method", above=0 if positive else None)


def _flag(options: dict[str, Any], key: str) -> bool:
    value = options[key]
    if not isinstance(value, bool):
        raise AsdbenchError(f"method.{key} must be true or false, got {value!r}")
    return value


def resolve_margin(value: Any, frontend: str) -> float:
    """``"auto"`` → 0.7 for a log-Mel-only frontend, 0.4 otherwise (OS-SCL paper)."""
    if value == AUTO:
        return 0.7 if frontend in LOGMEL_ONLY_FRONTENDS else 0.4
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AsdbenchError(f"method.margin must be 'auto' or a number >= 0, got {value!r}")
    return float(value)


def resolve_activation(value: Any, frontend: str) -> str:
    """``"auto"`` → leaky_relu (slope 0.01) for a log-Mel-only frontend, relu otherwise."""
    if value == AUTO:
        return "leaky_relu" if frontend in LOGMEL_ONLY_FRONTENDS else "relu"
    if value not in ACTIVATIONS:
        raise AsdbenchError(f"method.fph_activation must be 'auto', 'relu' or 'leaky_relu', "
                            f"got {value!r}")
    return value


def resolve_reduction(value: Any) -> int | None:
    """FPH bottleneck width R; ``"none"`` removes the FPH (Table VI "w/o FPH")."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AsdbenchError(f"method.fph_reduction must be 'none' or a positive integer, "
                            f"got {value!r}")
    return value


class FeaturePerturbationHead(nn.Module):
    """FPH in the code's order: Linear(E→R) → act → BN(R) → Linear(R→E) → act → BN(E).
    The caller L2-normalises the output."""

    def __init__(self, dim: int, reduction: int, activation: str) -> None:
        super().__init__()

        def act() -> nn.Module:
            return nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.01)

        self.head = nn.Sequential(nn.Linear(dim, reduction), act(), nn.BatchNorm1d(reduction),
                                  nn.Linear(reduction, dim), act(), nn.BatchNorm1d(dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x)


class ArcFaceMethod(nn.Module):
    """Plain ArcFace + cross-entropy on unmixed batches (STgram-MFN: m = 0.7, s = 30)."""

    mixup = False
    mixup_alpha = 0.0

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend: str) -> None:
        super().__init__()
        self.margin = resolve_margin(options["margin"], frontend)
        self.scale = _number(options, "scale", positive=True)
        self.eval_margin = _flag(options, "eval_margin")
        if "mixup_alpha" in options:
            self.mixup_alpha = _number(options, "mixup_alpha", positive=True)
        # ArcFace class centres, Xavier-uniform as in every reference implementation
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def embed(self, z: Tensor) -> Tensor:
        return z

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """Logits for the anomaly score (margin on ``labels`` when ``eval_margin``)."""
        labels = labels if self.eval_margin else None
        return losses.arcface_logits(e, self.weight, labels, self.margin, self.scale)

    def classification_loss(self, e: Tensor, y_a: Tensor, y_b: Tensor,
                            lam: float) -> tuple[Tensor, Tensor]:
        logits = losses.arcface_logits(e, self.weight, y_a, self.margin, self.scale)
        return F.cross_entropy(logits, y_a), logits

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        return self.classification_loss(self.embed(z), y_a, y_b, lam)


class ArcMixMethod(ArcFaceMethod):
    """ArcMix: mixup; each label's CE on logits with the margin on that label."""

    mixup = True

    def classification_loss(self, e, y_a, y_b, lam):
        return losses.arcmix_loss(e, self.weight, y_a, y_b, lam, self.margin, self.scale)


class NoisyArcMixMethod(ArcFaceMethod):
    """Noisy-ArcMix (NAMix): mixup; one set of logits, margin on ``y_a`` only."""

    mixup = True

    def classification_loss(self, e, y_a, y_b, lam):
        return losses.namix_loss(e, self.weight, y_a, y_b, lam, self.margin, self.scale)


class OSSCLMethod(NoisyArcMixMethod):
    """OS-SCL: mixup → FPH → L2-normalise → SupCon on ``y_a`` (τ = 0.02, ×τ/0.07) + NAMix,
    in one stage. ``margin``/``fph_activation`` ``"auto"`` follow the frontend (see module).
    ``fph_reduction="none"`` (Table VI "w/o FPH") L2-normalises the backbone embedding itself."""

    mixup = True

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend: str) -> None:
        super().__init__(options, num_classes, embedding_dim, frontend)
        self.fph_reduction = resolve_reduction(options["fph_reduction"])
        self.fph_activation = resolve_activation(options["fph_activation"], frontend)
        self.temperature = _number(options, "temperature", positive=True)
        self.base_temperature = _number(options, "base_temperature", positive=True)
        self.fph = (None if self.fph_reduction is None else
                    FeaturePerturbationHead(embedding_dim, self.fph_reduction,
                                            self.fph_activation))

    def embed(self, z: Tensor) -> Tensor:
        h = z if self.fph is None else self.fph(z)
        return F.normalize(h.float(), dim=1)

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        e = self.embed(z)
        ce, logits = self.classification_loss(e, y_a, y_b, lam)
        # positives by y_a whatever λ is: the label noise the method is named after
        sup = losses.supcon_noise(e, y_a, self.temperature, self.base_temperature)
        return sup + ce, logits


class SupConMethod(OSSCLMethod):
    """Ablation: OS-SCL without the noise, i.e. no mixup (SupCon + ArcFace on clean batches)."""

    mixup = False
    mixup_alpha = 0.0


def arcface_factory(options, num_classes, embedding_dim, frontend):
    return ArcFaceMethod(options, num_classes, embedding_dim, frontend)


def arcmix_factory(options, num_classes, embedding_dim, frontend):
    return ArcMixMethod(options, num_classes, embedding_dim, frontend)


def noisy_arcmix_factory(options, num_classes, embedding_dim, frontend):
    return NoisyArcMixMethod(options, num_classes, embedding_dim, frontend)


def osscl_factory(options, num_classes, embedding_dim, frontend):
    return OSSCLMethod(options, num_classes, embedding_dim, frontend)


def supcon_factory(options, num_classes, embedding_dim, frontend):
    return SupConMethod(options, num_classes, embedding_dim, frontend)
