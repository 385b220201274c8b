"""The OS-SCL paper's objectives as pure functions (ArcFace, ArcMix, Noisy-ArcMix, SupCon).

Every function takes plain tensors and computes in float32 (the engine may run the network under
bf16 autocast; angular margins and ``exp(1/τ)`` with τ = 0.02 need full precision).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _fp32(*tensors: Tensor) -> list[Tensor]:
    return [t.float() for t in tensors]


def _no_autocast(t: Tensor):
    """A context without autocast on ``t``'s device (autocast would recast matmuls to bf16)."""
    return torch.autocast(t.device.type, enabled=False)


def cosine_logits(x: Tensor, weight: Tensor) -> Tensor:
    """``cos θ`` between each embedding ``x[B, E]`` and each class weight ``weight[K, E]``."""
    with _no_autocast(x):
        x, weight = _fp32(x, weight)
        return F.linear(F.normalize(x, dim=1), F.normalize(weight, dim=1))


def add_angular_margin(cosine: Tensor, margin: float) -> Tensor:
    """``cos(θ + m)`` where it stays monotonic in θ, else the linear fallback ``cos θ − sin(π−m)·m``.

    ArcFace's usual ("not easy margin") rule: the fallback applies when ``cos θ ≤ cos(π − m)``,
    i.e. when θ + m would pass π.
    """
    # clamp: rounding can push |cos| a hair above 1, and sqrt of a negative is NaN
    sine = torch.sqrt((1.0 - cosine * cosine).clamp(0.0, 1.0))
    phi = cosine * math.cos(margin) - sine * math.sin(margin)
    threshold = math.cos(math.pi - margin)
    fallback = cosine - math.sin(math.pi - margin) * margin
    return torch.where(cosine > threshold, phi, fallback)


def arcface_logits(x: Tensor, weight: Tensor, labels: Tensor | None, margin: float,
                   scale: float) -> Tensor:
    """ArcFace logits ``s·cos θ``, with ``s·cos(θ + m)`` on each row's ``labels`` class.

    ``labels=None`` gives the plain scaled cosines (no margin anywhere).
    """
    cosine = cosine_logits(x, weight)
    if labels is None or margin == 0:
        return cosine * scale
    target = F.one_hot(labels.long(), cosine.shape[1]).bool()
    return torch.where(target, add_angular_margin(cosine, margin), cosine) * scale


def mixed_cross_entropy(logits_a: Tensor, logits_b: Tensor, y_a: Tensor, y_b: Tensor,
                        lam: float) -> Tensor:
    """``λ·CE(logits_a, y_a) + (1 − λ)·CE(logits_b, y_b)`` (batch means)."""
    return lam * F.cross_entropy(logits_a, y_a) + (1.0 - lam) * F.cross_entropy(logits_b, y_b)


def namix_loss(x: Tensor, weight: Tensor, y_a: Tensor, y_b: Tensor, lam: float, margin: float,
               scale: float) -> tuple[Tensor, Tensor]:
    """Noisy-ArcMix (paper eq. 2): one set of logits with the margin on ``y_a`` only, scored
    against both labels. Returns ``(loss, logits)``."""
    logits = arcface_logits(x, weight, y_a, margin, scale)
    return mixed_cross_entropy(logits, logits, y_a, y_b, lam), logits


def arcmix_loss(x: Tensor, weight: Tensor, y_a: Tensor, y_b: Tensor, lam: float, margin: float,
                scale: float) -> tuple[Tensor, Tensor]:
    """ArcMix: each label scored on logits that carry the margin on that label.
    Returns ``(loss, logits with the margin on y_a)``."""
    logits_a = arcface_logits(x, weight, y_a, margin, scale)
    logits_b = arcface_logits(x, weight, y_b, margin, scale)
    return mixed_cross_entropy(logits_a, logits_b, y_a, y_b, lam), logits_a


def supcon_noise(features: Tensor, labels: Tensor, temperature: float = 0.02,
                 base_temperature: float = 0.07) -> Tensor:
    """Noise-supervised contrastive loss (paper eq. 1), one view, as the authors' code computes it.

    ``features[B, E]`` are the (L2-normalised) perturbed embeddings of the *mixed* clips and
    ``labels`` is ``y_a``: positives P(i) are chosen by the original labels even when λ is small
    (that mismatch is the "noise"). Per anchor: ``−(τ/τ_base)·mean_{p∈P(i)} log softmax_{a≠i}``;
    anchors with no positive contribute 0; the result is the mean over all B anchors (the code
    divides eq. 1's sum by B and scales it by τ/0.07).
    """
    with _no_autocast(features):
        return _supcon(_fp32(features)[0], labels.reshape(-1), temperature, base_temperature)


def _supcon(z: Tensor, labels: Tensor, temperature: float, base_temperature: float) -> Tensor:
    batch = z.shape[0]
    if labels.shape[0] != batch:
        raise ValueError(f"supcon_noise: {labels.shape[0]} labels for {batch} features")
    sim = z @ z.T / temperature
    # subtracting the row max changes nothing mathematically; it keeps exp() finite
    sim = sim - sim.max(dim=1, keepdim=True).values.detach()
    self_mask = torch.eye(batch, dtype=torch.bool, device=z.device)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    log_denominator = torch.logsumexp(sim.masked_fill(self_mask, float("-inf")), dim=1,
                                      keepdim=True)
    log_prob = sim - log_denominator
    n_pos = positives.sum(dim=1)
    pos_sum = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    mean_log_prob_pos = pos_sum / n_pos.clamp(min=1)
    return -(temperature / base_temperature) * mean_log_prob_pos.mean()
