"""CLP-SCF's objectives as pure functions: the machine-ID contrastive loss of stage 1 and the
ArcFace logits of stage 2 (facts: the authors' ``NT_Xent.SupconLoss`` and
``model.ArcMarginProduct``; see NOTES.md). They compute in float32 with autocast
off: exp(1/t) and angular margins need full precision."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _fp32(t: Tensor):
    return torch.autocast(t.device.type, enabled=False)


def id_contrastive_loss(z: Tensor, labels: Tensor, temperature: float = 0.1,
                        self_in_denominator: bool = True) -> Tensor:
    """Supervised contrastive loss with machine IDs as the classes, one view per clip.

    For anchor ``i`` with positives ``P(i)`` (the other clips of its ID) and similarities
    ``s_ij = cos(z_i, z_j) / t``: ``l_i = -mean_{p in P(i)} (s_ip - log sum_j exp s_ij)``, the sum
    over every clip ``j`` of the batch, the anchor included when ``self_in_denominator`` (the
    authors' code) and left out otherwise (Khosla et al.). The loss is the mean of ``l_i`` over
    the anchors that have a positive; a batch without any positive pair gives 0.
    """
    if labels.reshape(-1).shape[0] != z.shape[0]:
        raise ValueError(f"id_contrastive_loss: {labels.numel()} labels for {z.shape[0]} clips")
    with _fp32(z):
        z = F.normalize(z.float(), dim=1)
        labels = labels.reshape(-1)
        sim = z @ z.T / temperature
        # minus the row maximum: the same loss, and exp() stays finite at t = 0.1 or less
        sim = sim - sim.max(dim=1, keepdim=True).values.detach()
        eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
        positives = (labels[:, None] == labels[None, :]) & ~eye
        denominator = sim if self_in_denominator else sim.masked_fill(eye, float("-inf"))
        log_prob = sim - torch.logsumexp(denominator, dim=1, keepdim=True)
        n_pos = positives.sum(dim=1)
        has = n_pos > 0
        if not has.any():
            return z.sum() * 0.0  # no positive pair: nothing to pull together
        pos_mean = torch.where(positives, log_prob, 0.0).sum(dim=1)[has] / n_pos[has]
        return -pos_mean.mean()


def arcface_logits(x: Tensor, weight: Tensor, labels: Tensor | None, margin: float,
                   scale: float) -> Tensor:
    """``s * cos theta`` of each embedding ``x[B, E]`` to each class centre ``weight[K, E]``,
    with ``s * cos(theta + m)`` on each row's ``labels`` class where ``cos theta > cos(pi - m)``,
    else ``s * (cos theta - m * sin(pi - m))`` (the authors' ``ArcMarginProduct``, not its
    easy margin); ``labels=None``: no margin anywhere."""
    with _fp32(x):
        cosine = F.linear(F.normalize(x.float(), dim=1), F.normalize(weight.float(), dim=1))
        if labels is None or margin == 0:
            return cosine * scale
        sine = torch.sqrt((1.0 - cosine * cosine).clamp(0.0, 1.0))
        phi = cosine * math.cos(margin) - sine * math.sin(margin)
        phi = torch.where(cosine > math.cos(math.pi - margin), phi,
                          cosine - math.sin(math.pi - margin) * margin)
        target = F.one_hot(labels.long(), cosine.shape[1]).bool()
        return torch.where(target, phi, cosine) * scale
