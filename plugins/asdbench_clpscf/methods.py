"""Method ``clp-scf``: two training stages on one network (facts: NOTES.md).

Stage ``pretrain`` trains the frontend, the backbone and the projection head
(``project_in`` then ``project_out``) on the machine-ID contrastive loss; stage ``finetune``
trains the frontend, the backbone, ``project_in`` (the head's first layer, kept as the
authors keep it) and the ArcFace centres on the machine-ID classification. ``project_out`` is
stage 1 only (unused afterwards), the ArcFace centres are stage 2 only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo, Stage
from asdbench_clpscf import losses

PRETRAIN_TRAINS = ("frontend", "backbone", "method.project_in", "method.project_out")
FINETUNE_TRAINS = ("frontend", "backbone", "method.project_in", "method.weight")


def pretrain_epochs(value: float) -> int | float:
    """``method.pretrain_epochs`` as a stage's epochs: a share in (0, 1) or a whole number."""
    if 0 < value < 1:
        return float(value)
    if float(value).is_integer():
        return int(value)
    raise AsdbenchError(f"method clp-scf: pretrain_epochs must be a share in (0, 1) of "
                        f"train.epochs or a whole number of epochs, got {value!r}")


class CLPSCFMethod(nn.Module):
    """CLP-SCF on a backbone of ``embedding_dim``: ``loss`` is the fine-tuning loss (the final
    stage's), ``pretrain_loss`` the contrastive one; the embedding scorers see is ``h'``, the
    output of ``project_in``."""

    mixup_alpha = None  # the authors mix nothing

    def __init__(self, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo) -> None:
        super().__init__()
        width = int(options["projection_dim"])
        self.temperature = float(options["temperature"])
        self.self_in_denominator = bool(options["self_in_denominator"])
        self.margin, self.scale = float(options["margin"]), float(options["scale"])
        self.eval_margin = bool(options["eval_margin"])
        # the authors' ContrastiveHead: Linear (no bias) -> BN, with ReLU between the layers
        self.project_in = nn.Sequential(nn.Linear(embedding_dim, width, bias=False),
                                        nn.BatchNorm1d(width))
        self.project_out = nn.Sequential(
            nn.ReLU(), nn.Linear(width, width, bias=False), nn.BatchNorm1d(width),
            nn.ReLU(), nn.Linear(width, width, bias=False), nn.BatchNorm1d(width))
        self.weight = nn.Parameter(torch.empty(num_classes, width))  # ArcFace centres
        nn.init.xavier_uniform_(self.weight)
        self.stages = (
            Stage("pretrain", pretrain_epochs(options["pretrain_epochs"]), loss="pretrain_loss",
                  trains=PRETRAIN_TRAINS, lr_scale=float(options["pretrain_lr_scale"])),
            Stage("finetune", None, loss="loss", trains=FINETUNE_TRAINS))

    def embed(self, z: Tensor) -> Tensor:
        return self.project_in(z)

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """ArcFace logits for the anomaly score (margin on ``labels`` when ``eval_margin``)."""
        labels = labels if self.eval_margin else None
        return losses.arcface_logits(e, self.weight, labels, self.margin, self.scale)

    def pretrain_loss(self, z: Tensor, y_a: Tensor, y_b: Tensor,
                      lam: float) -> tuple[Tensor, None]:
        """Stage 1: the machine-ID contrastive loss on the projection head's output."""
        projected = self.project_out(self.project_in(z))
        return losses.id_contrastive_loss(projected, y_a, self.temperature,
                                          self.self_in_denominator), None

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        """Stage 2: ArcFace cross-entropy of the machine IDs on ``h'``."""
        logits = losses.arcface_logits(self.embed(z), self.weight, y_a, self.margin, self.scale)
        return F.cross_entropy(logits, y_a), logits


def clpscf_factory(options, num_classes, embedding_dim, frontend_info):
    return CLPSCFMethod(options, num_classes, embedding_dim, frontend_info)
