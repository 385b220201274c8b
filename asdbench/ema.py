"""Weight EMA as in the OS-SCL authors' code (a MixMatch-style ``WeightEMA``)."""

from __future__ import annotations

import torch
from torch import nn


class WeightEMA:
    """After each optimiser step: ``ema = α·ema + (1−α)·live`` and ``live *= (1 − wd)``.

    Both apply to every float32 entry of the state dict, BN running statistics included,
    exactly as the authors' code does (their ``wd`` is 0.02 · 1e-4 = 2e-6).

    ``warmup=True`` (not in the paper; for short runs) uses ``min(α, (1 + t) / (10 + t))`` at step
    ``t``, as TensorFlow's and timm's EMA do: with α = 0.9999 an EMA needs ~10,000 steps to
    forget its random initialisation, more than a few-minute CPU run takes.

    ``enabled=False`` (no weight averaging) keeps only the live decay: the copy is not
    averaged, and :meth:`sync` makes it the live weights exactly (every entry of the state
    dict) before it is validated or saved.
    """

    def __init__(self, model: nn.Module, ema_model: nn.Module, alpha: float = 0.9999,
                 live_decay: float = 2e-6, warmup: bool = False, enabled: bool = True) -> None:
        self.alpha = alpha
        self.live_decay = live_decay
        self.warmup = warmup
        self.enabled = enabled
        self.steps = 0
        pairs = list(zip(model.state_dict().values(), ema_model.state_dict().values(),
                         strict=True))
        self._all = pairs
        self._pairs = [(p, e) for p, e in pairs if e.dtype == torch.float32]
        ema_model.load_state_dict(model.state_dict())
        for p in ema_model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def sync(self) -> None:
        """Without averaging, copy the live weights and buffers into the copy (else nothing)."""
        if not self.enabled:
            for p, e in self._all:
                e.copy_(p)

    @torch.no_grad()
    def step(self) -> None:
        live = [p for p, _ in self._pairs]
        ema = [e for _, e in self._pairs]
        if not self.enabled:
            self.steps += 1
            if self.live_decay:
                torch._foreach_mul_(live, 1.0 - self.live_decay)
            return
        alpha = self.alpha
        if self.warmup:
            alpha = min(alpha, (1 + self.steps) / (10 + self.steps))
        self.steps += 1
        torch._foreach_lerp_(ema, live, 1.0 - alpha)  # ema += (1-α)(live-ema)
        if self.live_decay:
            torch._foreach_mul_(live, 1.0 - self.live_decay)
