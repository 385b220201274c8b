"""The non-learned reference: a per-ID Gaussian on clip log-Mel statistics.

Why: the paper's claim is that machine-ID classifiers beat density models of normal sound
(DCASE 2020: 84-96 % against the autoencoder baseline's ~74 %). A benchmark that ranks the
classifiers must measure that comparison itself, on the same clips and protocol. The
reference is three parameter-free parts, so it runs through the same engine as any method:

- backbone ``stats``: the mean and the standard deviation over time of every band of every
  input channel (``[B, C, F, T]`` -> ``[B, 2 C F]``), e.g. 256 numbers for a 128-band log-Mel;
- method ``gaussian``: nothing to learn (``trains = False``; the engine trains no such model,
  nor one without trainable parameters); its embedding is the backbone's output, its logits
  are zeros (use a density scorer, not ``ce``);
- scorer ``mahalanobis`` (already shipped): a Ledoit-Wolf Gaussian per ID, fitted on every
  training clip.

Run it as ``--frontend logmel --backbone stats --method gaussian --scorer mahalanobis``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo


class StatsBackbone(nn.Module):
    """Mean and standard deviation over time per band and channel: ``[B, C, F, T]`` ->
    ``[B, 2 C F]`` (no parameters)."""

    def __init__(self, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        channels, bands, _ = in_shape
        self.embedding_dim = 2 * channels * bands

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        return torch.cat([x.mean(-1), x.std(-1, unbiased=False)], dim=1).flatten(1)


class GaussianMethod(nn.Module):
    """A method with nothing to train (``trains = False``: the engine skips training, whatever
    the backbone): embeddings pass through, logits are zeros. On ``stats`` it is the per-ID
    Gaussian reference; on a learnable backbone, a Gaussian on its random initial features."""

    mixup_alpha = None
    trains = False

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def embed(self, z: Tensor) -> Tensor:
        return z

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        return e.new_zeros(len(e), self.num_classes)

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        raise AsdbenchError("method 'gaussian' has nothing to train (the engine skips "
                            "training for a method with trains = False)")


def stats_factory(options: dict[str, Any], in_shape: tuple[int, int, int]) -> StatsBackbone:
    if len(in_shape) != 3:
        raise AsdbenchError(f"stats expects a (channels, freq, frames) input, got {in_shape}")
    return StatsBackbone(tuple(int(v) for v in in_shape))


def gaussian_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                     frontend_info: FrontendInfo) -> GaussianMethod:
    return GaussianMethod(num_classes)
