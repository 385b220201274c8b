"""The AdaCos family's maths as pure functions: cosines to centres and subspaces, the three
adaptive-scale updates, the sub-cluster combination and soft-label cross-entropy.

Every function computes in float32 without autocast (the engine may run the network under
bf16 autocast; ``exp(s·cos)`` with s ≈ 10 needs full precision). Formulas and sources: the
NOTES.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Keras' K.epsilon(): the authors clip cosines to [-1 + eps, 1 - eps] before acos and add it
# to the new scale
EPS = 1e-7
# A target weight at least this is a full (unmixed) target: λ + (1 − λ) may round below 1
FULL = 1.0 - 1e-6


def _no_autocast(t: Tensor):
    return torch.autocast(t.device.type, enabled=False)


def initial_scale(num_centres: int) -> float:
    """AdaCos's fixed scale ``√2·log(K − 1)`` for ``K`` centres (needs ``K ≥ 3`` to be > 0)."""
    return math.sqrt(2.0) * math.log(num_centres - 1)


def soft_targets(y_a: Tensor, y_b: Tensor, lam: float, num_classes: int) -> Tensor:
    """Mixup label weights ``λ·onehot(y_a) + (1 − λ)·onehot(y_b)`` ``[B, C]``."""
    a = F.one_hot(y_a.long(), num_classes).float()
    b = F.one_hot(y_b.long(), num_classes).float()
    return lam * a + (1.0 - lam) * b


def centre_cosines(x: Tensor, centres: Tensor) -> Tensor:
    """``cos θ`` ``[B, K]`` between each embedding ``x[B, E]`` and each centre ``centres[K, E]``."""
    with _no_autocast(x):
        return F.normalize(x.float(), dim=1) @ F.normalize(centres.float(), dim=1).T


def subspace_cosines(x: Tensor, bases: Tensor) -> Tensor:
    """AdaProj's ``cos(x̂, P_c x̂)`` ``[B, C]`` for bases ``[C, d, E]``: each basis vector is
    L2-normalised, ``P_c x̂ = Σ_k (x̂·w_ck) w_ck``; for an orthonormal basis the result is the
    norm of the projection ``‖P_c x̂‖``."""
    with _no_autocast(x):
        xn = F.normalize(x.float(), dim=1)
        w = F.normalize(bases.float(), dim=2)
        coef = torch.einsum("be,cde->bcd", xn, w)
        proj = torch.einsum("bcd,cde->bce", coef, w)
        # x̂·P_c x̂ = Σ_k coef², divided by ‖P_c x̂‖
        return coef.square().sum(-1) / proj.norm(dim=-1).clamp_min(1e-12)


def angles(cos: Tensor) -> Tensor:
    """``θ = acos(cos)`` with the authors' clip to ``[-1 + ε, 1 − ε]`` (finite gradients)."""
    return torch.acos(cos.clamp(-1.0 + EPS, 1.0 - EPS))


def _scale_from(log_b_avg: Tensor, theta: Tensor) -> Tensor:
    """``log B_avg / cos(min(π/4, median θ))`` (torch.median: the lower middle value)."""
    theta_med = torch.median(theta)
    return log_b_avg / torch.cos(torch.clamp(theta_med, max=math.pi / 4))


def adacos_scale(cos: Tensor, targets: Tensor, scale: float | Tensor) -> Tensor:
    """Zhang et al.'s dynamic scale: ``B_avg = (1/B) Σ_i Σ_{k non-target} exp(s·cos_ik)``,
    ``θ_i = Σ_k y_ik θ_ik`` (the target angle when unmixed); ``log B_avg / cos(min(π/4,
    θ_med))``. ``cos``/``targets`` ``[B, C]``; non-target: ``y < 1``."""
    with torch.no_grad(), _no_autocast(cos):
        cos, targets = cos.float(), targets.float()
        scaled = (scale * cos).masked_fill(targets >= FULL, float("-inf"))
        log_b_avg = torch.logsumexp(scaled.flatten(), 0) - math.log(len(cos))
        return _scale_from(log_b_avg, (targets * angles(cos)).sum(1))


def subcluster_scale(cos: Tensor, targets: Tensor, scale: float | Tensor,
                     n_subclusters: int) -> Tensor:
    """The sub-cluster AdaCos code's update: ``B_avg = mean_i Σ_j exp(s·cos_ij)`` over all
    ``C·n`` centres, ``θ_i = (Σ_j ỹ_ij θ_ij)·nnz(y_i)`` with ``ỹ`` the label repeated over the
    sub-clusters; ``log B_avg / cos(min(π/4, θ_med)) + ε``. ``cos`` ``[B, C·n]`` (centre
    ``c·n + k`` = sub-cluster ``k`` of class ``c``), ``targets`` ``[B, C]``."""
    with torch.no_grad(), _no_autocast(cos):
        cos, targets = cos.float(), targets.float()
        # M + log(mean Σ exp(s·cos − M)) of the code is this log-sum-exp
        log_b_avg = torch.logsumexp((scale * cos).flatten(), 0) - math.log(len(cos))
        repeated = targets.repeat_interleave(n_subclusters, dim=1)
        classes_in_label = (targets > 0).sum(1).float()
        theta = (repeated * angles(cos)).sum(1) * classes_in_label
        return _scale_from(log_b_avg, theta) + EPS


def adaproj_scale(cos: Tensor, targets: Tensor, scale: float | Tensor) -> Tensor:
    """AdaProj's update: ``B_avg = mean_i [Σ_{k: y<1} exp(s·cos_ik) + #{k: y_ik = 1}]`` (a
    full target counts ``e^0``), ``θ_i = Σ_k y_ik θ_ik``; ``log B_avg / cos(min(π/4,
    θ_med)) + ε``. ``cos``/``targets`` ``[B, C]``."""
    with torch.no_grad(), _no_autocast(cos):
        cos, targets = cos.float(), targets.float()
        scaled = torch.where(targets >= FULL, torch.zeros_like(cos), scale * cos)
        log_b_avg = torch.logsumexp(scaled.flatten(), 0) - math.log(len(cos))
        return _scale_from(log_b_avg, (targets * angles(cos)).sum(1)) + EPS


def subcluster_log_probs(scaled: Tensor, n_subclusters: int) -> Tensor:
    """``log p_c``, ``p_c = Σ_k softmax(scaled)_{c·n+k}``: the class probabilities of
    sub-cluster AdaCos (``[B, C·n]`` → ``[B, C]``); ``softmax(log p) = p``, so they are logits."""
    log_p = F.log_softmax(scaled.float(), dim=1)
    return log_p.view(len(scaled), -1, n_subclusters).logsumexp(-1)


def soft_cross_entropy(log_probs: Tensor, targets: Tensor) -> Tensor:
    """``mean_i −Σ_c y_ic log p_ic`` (``log_probs`` normalised, or logits: log-softmaxed)."""
    return -(targets * F.log_softmax(log_probs.float(), dim=1)).sum(1).mean()
