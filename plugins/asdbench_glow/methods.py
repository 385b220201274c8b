"""Method ``glow-aff``: Glow with affine couplings as a self-supervised density estimator
(Dohi et al., ICASSP 2021).

One flow per machine ID (``models = "class"``): trained to raise the likelihood of its ID's
clips (the targets) and to lower, by a margin, that of the other IDs of the same machine type
(the outliers). A clip's anomaly score is its negative log-likelihood under its own ID's flow,
in nats per dimension, averaged over the clip's segments of ``frames`` log-Mel frames.

The embedding of a clip is its score under each flow (``[B, G]``); ``logits(e, labels)`` gives
each clip's score as a clip of each class, which scorer ``method`` reads at the clip's own
class (``own_score = True``), as for the DCASE baselines. The embedding runs every clip
through every ID's flow (``embed`` is not told the clip's class): at inference a model of G
IDs costs G flows per clip, 41 on the paper's DCASE 2020 classes; training runs a clip through
the flows of its type's IDs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo, IncompatibleComponents
from asdbench_glow.flow import Glow


def self_supervised_loss(u_target: Tensor, u_outlier: Tensor, margin: float,
                         weight: float) -> Tensor:
    """One flow's loss from the negative log-likelihoods (nats per dimension) of its target
    clips ``u_target [T]`` and outlier clips ``u_outlier [O]``:
    ``mean_t u_t + weight · mean_{t,o} max(0, margin - (u_o - u_t))``. The hinge is bounded:
    an outlier already ``margin`` less likely than every target adds nothing, so the flow is
    never rewarded for pushing outliers' likelihood down without end."""
    loss = u_target.mean()
    if weight > 0 and u_outlier.numel():
        gaps = u_outlier[None, :] - u_target[:, None]  # [T, O]
        loss = loss + weight * torch.relu(margin - gaps).mean()
    return loss


def segments(z: Tensor, shape: tuple[int, int, int], frames: int, hop: int) -> Tensor:
    """``[B, C·F·T]`` (the ``frames`` backbone's flattened spectrogram) -> ``[B, S, C, F,
    frames]``: the clip's segments of ``frames`` consecutive frames, ``hop`` frames apart."""
    x = z.reshape(z.shape[0], *shape)  # [B, C, F, T]
    return x.unfold(3, frames, hop).permute(0, 3, 1, 2, 4)  # [B, S, C, F, frames]


def class_groups(class_names: Sequence[str] | None, num_classes: int,
                 models: str) -> tuple[list[int], list[int]]:
    """``(flow of each class, machine type of each class)``: one flow per class or per type
    (``"<type>/<id>"``). Without class names (``asdbench describe``) every class is one ID of
    one type: one flow, no outliers (the size of one ID's model)."""
    if class_names is None:
        return [0] * num_classes, [0] * num_classes
    types = sorted({name.split("/")[0] for name in class_names})
    type_of = [types.index(name.split("/")[0]) for name in class_names]
    return (list(range(num_classes)) if models == "class" else list(type_of)), type_of


class GlowAff(nn.Module):
    own_score = True  # logits(e, labels) are anomaly scores (NLL), not class logits
    mixup_alpha = None  # density estimation on the clips as they are

    def __init__(self, name: str, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo, class_names: Sequence[str] | None) -> None:
        super().__init__()
        c, f, t = frontend_info.out_shape
        if embedding_dim != c * f * t:
            raise IncompatibleComponents(
                f"method '{name}' works on spectrogram frames: use backbone 'frames' (this "
                f"backbone gives {embedding_dim} values for a {c}x{f}x{t} input)")
        self.shape = (c, f, t)
        self.frames, self.hop = int(options["frames"]), int(options["hop"])
        levels = int(options["levels"])
        if f % 2 ** levels or self.frames % 2 ** levels:
            raise AsdbenchError(f"method '{name}': {f} frequency bins and method.frames = "
                                f"{self.frames} must both be divisible by 2^method.levels = "
                                f"{2 ** levels}")
        if t < self.frames:
            raise AsdbenchError(f"method '{name}': a clip has {t} frames, fewer than "
                                f"method.frames = {self.frames} (longer clips or fewer frames)")
        self.margin, self.weight = float(options["margin"]), float(options["outlier_weight"])
        flows, types = class_groups(class_names, num_classes, options["models"])
        group_type = [types[flows.index(g)] for g in range(max(flows) + 1)]
        # routing derived from the classes, not learned: not part of the saved weights
        self.register_buffer("group_of_class", torch.tensor(flows), persistent=False)
        self.register_buffer("type_of_class", torch.tensor(types), persistent=False)
        self.register_buffer("type_of_group", torch.tensor(group_type), persistent=False)
        self.flows = nn.ModuleList(
            Glow((c, f, self.frames), levels, int(options["steps"]), int(options["hidden"]),
                 float(options["init_std"])) for _ in group_type)

    def clip_nll(self, flow: Glow, seg: Tensor) -> Tensor:
        """``[N, S, C, F, frames]`` segments -> ``[N]``: each clip's negative log-likelihood
        in nats per dimension, averaged over its segments. In float32 whatever the autocast
        (log-dets of thousands of dimensions do not survive bf16)."""
        n, s = seg.shape[:2]
        with torch.autocast(seg.device.type, enabled=False):
            logp = flow.log_prob(seg.float().reshape(n * s, *seg.shape[2:]))
        return (-logp / seg[0, 0].numel()).reshape(n, s).mean(1)

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, None]:
        """Each flow's :func:`self_supervised_loss` on the batch's clips of its ID (targets)
        and of the other IDs of its type (outliers), weighted by its target count: the mean
        over the batch's clips. No class logits."""
        seg = segments(z, self.shape, self.frames, self.hop)
        groups, types = self.group_of_class[y_a], self.type_of_class[y_a]
        total = seg.new_zeros(())
        for g in torch.unique(groups).tolist():  # one host sync: data-dependent routing
            target = groups == g
            chosen = target | (types == self.type_of_group[g]) if self.weight > 0 else target
            u = self.clip_nll(self.flows[g], seg[chosen])
            is_target = target[chosen]
            loss = self_supervised_loss(u[is_target], u[~is_target], self.margin, self.weight)
            total = total + loss * is_target.sum()
        return total / len(y_a), None

    def embed(self, z: Tensor) -> Tensor:
        """``[B, G]``: each clip's negative log-likelihood (nats per dimension, mean over its
        segments) under each flow."""
        seg = segments(z, self.shape, self.frames, self.hop)
        return torch.stack([self.clip_nll(flow, seg) for flow in self.flows], 1)

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """``[B, K]``: column k is the clip's anomaly score as a clip of class k."""
        return e[:, self.group_of_class]


def glow_aff_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                     frontend_info: FrontendInfo,
                     class_names: Sequence[str] | None = None) -> GlowAff:
    return GlowAff("glow-aff", options, num_classes, embedding_dim, frontend_info, class_names)
