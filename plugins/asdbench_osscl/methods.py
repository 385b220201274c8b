"""Training methods: ArcFace, ArcMix, Noisy-ArcMix, OS-SCL (FPH + noise-supervised SupCon) and
the SupCon ablation (OS-SCL without mixup noise).

Anomaly-score logits: the authors' evaluation calls ``net(wav, mel, label, train=False)``, whose
ArcFace layer still puts the margin on the clip's own class (``train`` only reshapes TFgram's
input). ``eval_margin=True`` (default) reproduces that; ``False`` scores on plain ``s·cos θ``.

Per-input defaults follow the frontend's declared traits (``FrontendInfo.traits``), not its
name: ``"auto"`` margin and FPH activation take the log-Mel-alone values when the input is
log-Mel alone (frontend ``logmel``), the fused values otherwise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdbench.sdk import LOG_MEL, FrontendInfo
from asdbench_osscl import losses
from asdbench_osscl.options import AUTO, OSSCL_OPTIONS, SUPCON_OPTIONS  # noqa: F401 (re-exported)

# OS-SCL paper, "Implementation Details": Log-Mel alone m=0.7 + LeakyReLU FPH; fused inputs
# (TFSTgram, and by extension STgram/TASTgram) m=0.4 + ReLU FPH.
LOG_MEL_ALONE = frozenset({LOG_MEL})


def log_mel_alone(frontend_info: FrontendInfo) -> bool:
    """Whether the method's input is a log-Mel and nothing else (frontend ``logmel``)."""
    return frontend_info.traits == LOG_MEL_ALONE


def resolve_margin(value: Any, frontend_info: FrontendInfo) -> float:
    """``"auto"`` → 0.7 for log-Mel alone, 0.4 otherwise (OS-SCL paper)."""
    if value == AUTO:
        return 0.7 if log_mel_alone(frontend_info) else 0.4
    return float(value)


def resolve_activation(value: Any, frontend_info: FrontendInfo) -> str:
    """``"auto"`` → leaky_relu (slope 0.01) for log-Mel alone, relu otherwise."""
    if value == AUTO:
        return "leaky_relu" if log_mel_alone(frontend_info) else "relu"
    return value


def resolve_reduction(value: Any) -> int | None:
    """FPH bottleneck width R; ``"none"`` removes the FPH (Table VI "w/o FPH")."""
    return None if value in (None, "none") else int(value)


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
    """Plain ArcFace + cross-entropy on unmixed batches (STgram-MFN: m = 0.7, s = 30).

    ``options`` as checked by the registry against the method's schema. The engine mixes the
    batches of a method whose ``mixup_alpha`` is set: those given a ``mixup_alpha`` option."""

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo) -> None:
        super().__init__()
        self.margin = resolve_margin(options["margin"], frontend_info)
        self.scale = float(options["scale"])
        self.eval_margin = bool(options["eval_margin"])
        alpha = options.get("mixup_alpha")
        self.mixup_alpha: float | None = None if alpha is None else float(alpha)
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

    def classification_loss(self, e, y_a, y_b, lam):
        return losses.arcmix_loss(e, self.weight, y_a, y_b, lam, self.margin, self.scale)


class NoisyArcMixMethod(ArcFaceMethod):
    """Noisy-ArcMix (NAMix): mixup; one set of logits, margin on ``y_a`` only."""

    def classification_loss(self, e, y_a, y_b, lam):
        return losses.namix_loss(e, self.weight, y_a, y_b, lam, self.margin, self.scale)


class OSSCLMethod(NoisyArcMixMethod):
    """OS-SCL: mixup → FPH → L2-normalise → SupCon on ``y_a`` (τ = 0.02, ×τ/0.07) + NAMix,
    in one stage. ``margin``/``fph_activation`` ``"auto"`` follow the frontend (see module).
    ``fph_reduction="none"`` (Table VI "w/o FPH") L2-normalises the backbone embedding itself."""

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo) -> None:
        super().__init__(options, num_classes, embedding_dim, frontend_info)
        self.fph_reduction = resolve_reduction(options["fph_reduction"])
        self.fph_activation = resolve_activation(options["fph_activation"], frontend_info)
        self.temperature = float(options["temperature"])
        self.base_temperature = float(options["base_temperature"])
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
    """Ablation: OS-SCL without the noise, i.e. no mixup (SupCon + ArcFace on clean batches):
    its options have no ``mixup_alpha``."""


def arcface_factory(options, num_classes, embedding_dim, frontend_info):
    return ArcFaceMethod(options, num_classes, embedding_dim, frontend_info)


def arcmix_factory(options, num_classes, embedding_dim, frontend_info):
    return ArcMixMethod(options, num_classes, embedding_dim, frontend_info)


def noisy_arcmix_factory(options, num_classes, embedding_dim, frontend_info):
    return NoisyArcMixMethod(options, num_classes, embedding_dim, frontend_info)


def osscl_factory(options, num_classes, embedding_dim, frontend_info):
    return OSSCLMethod(options, num_classes, embedding_dim, frontend_info)


def supcon_factory(options, num_classes, embedding_dim, frontend_info):
    return SupConMethod(options, num_classes, embedding_dim, frontend_info)
