"""``pool``: a backbone that pools tokens ``[B, C, D, N]`` over N and projects the result.

Behind an encoder frontend C = 1, D is the encoder width and N its tokens; behind any other
frontend the channels and bins are stacked (C·D features) and the frames pooled.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling as ASDKit's ``AttnStatPool``: per-feature attention over
    tokens from each token, the mean and the std; weighted mean and std; BN → Linear → BN."""

    def __init__(self, dim: int, hidden_ratio: int = 16) -> None:
        super().__init__()
        hidden = max(1, dim // hidden_ratio)
        self.attention = nn.Sequential(
            nn.Conv1d(3 * dim, hidden, 1), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Tanh(),
            nn.Conv1d(hidden, dim, 1), nn.Softmax(dim=2))
        self.last_layer = nn.Sequential(nn.BatchNorm1d(2 * dim), nn.Linear(2 * dim, dim),
                                        nn.BatchNorm1d(dim))

    def forward(self, x: Tensor) -> Tensor:  # [B, D, N] -> [B, D]
        n = x.shape[-1]
        mean = x.mean(dim=2, keepdim=True)
        std = x.var(dim=2, keepdim=True).clamp(min=1e-4).sqrt()
        w = self.attention(torch.cat([x, mean.expand(-1, -1, n), std.expand(-1, -1, n)], 1))
        mu = (x * w).sum(2)
        sigma = ((x * x * w).sum(2) - mu * mu).clamp(min=1e-4).sqrt()
        return self.last_layer(torch.cat([mu, sigma], 1))


class TokenPool(nn.Module):
    """Mean, attentive statistics or flattening over the tokens, then an optional linear
    projection to ``embedding_dim`` (0: none)."""

    def __init__(self, in_shape: tuple[int, int, int], pooling: str, embedding_dim: int,
                 hidden_ratio: int) -> None:
        super().__init__()
        channels, dim, tokens = in_shape
        features = channels * dim
        self.pooling = pooling
        self.asp = AttentiveStatsPool(features, hidden_ratio) if pooling == "asp" else None
        pooled = features * tokens if pooling == "flatten" else features
        self.projection = nn.Linear(pooled, embedding_dim) if embedding_dim else None
        self.embedding_dim = embedding_dim or pooled

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1, 2).float()  # [B, C·D, N]
        if self.pooling == "mean":
            z = x.mean(-1)
        elif self.pooling == "asp":
            z = self.asp(x)
        else:
            z = x.transpose(1, 2).flatten(1)
        return z if self.projection is None else self.projection(z)


def pool_factory(options: dict[str, Any], in_shape: tuple[int, int, int]) -> TokenPool:
    if len(in_shape) != 3:
        raise AsdbenchError(f"pool expects a (channels, features, tokens) input, got {in_shape}")
    if options["pooling"] == "asp" and in_shape[2] < 2:
        raise AsdbenchError("backbone.pooling=asp needs at least 2 tokens (frontend.tokens "
                            "'mean' leaves one)")
    return TokenPool(tuple(int(v) for v in in_shape), options["pooling"],
                     int(options["embedding_dim"]), int(options["asp_hidden_ratio"]))
