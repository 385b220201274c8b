"""Deterministic weights and waveforms for the faithfulness fixtures.

The reference outputs in ``fixtures/*.json`` were computed by the publishers' code on a
checkpoint filled by :func:`seeded_state` and on :func:`fixed_waves`; the tests rebuild both
without the reference code (see NOTES.md, "Faithfulness fixtures").
"""

from __future__ import annotations

import math
import re

import torch

# Keys whose tensor repeats another's (BEATs shares layer 0's relative bias table).
_SHARED = re.compile(r"^(.*\.layers\.)\d+(\.self_attn\.relative_attention_bias\.weight)$")


def _draw(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    noise = torch.randn(shape, generator=gen, dtype=torch.float64)
    last = key.rsplit(".", 1)[-1]
    if len(shape) >= 2 and last not in ("weight_g", "grep_a"):
        fan_in = math.prod(shape[1:]) if "relative_attention_bias" not in key else 1
        return noise / math.sqrt(fan_in)
    if last in ("weight_g", "grep_a") or (last == "weight" and len(shape) == 1):
        return 1.0 + 0.1 * noise  # norm gains, weight-norm gains, gates
    return 0.05 * noise  # biases, scalars


def seeded_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """One float32 tensor per key, drawn in sorted key order from one seeded generator:
    matrices ~ N(0, 1/fan_in), gains ~ 1 + N(0, 0.01), biases ~ N(0, 0.0025)."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key in sorted(shapes):
        shared = _SHARED.match(key)
        first = f"{shared.group(1)}0{shared.group(2)}" if shared else None
        if first is not None and first != key and first in shapes:
            continue
        out[key] = _draw(key, tuple(shapes[key]), gen).float()
    for key in shapes:
        shared = _SHARED.match(key)
        if shared and key not in out:
            out[key] = out[f"{shared.group(1)}0{shared.group(2)}"].clone()
    return {k: out[k] for k in shapes}


def fixed_waves(batch: int, samples: int, seed: int = 1, rate: int = 16000) -> torch.Tensor:
    """``[batch, samples]`` float32 in (-1, 1): a few seeded tones plus noise per clip."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(samples, dtype=torch.float64) / rate
    rows = []
    for _ in range(batch):
        freqs = 100 + 3000 * torch.rand(3, generator=gen, dtype=torch.float64)
        amps = 0.05 + 0.2 * torch.rand(3, generator=gen, dtype=torch.float64)
        x = (amps[:, None] * torch.sin(2 * math.pi * freqs[:, None] * t)).sum(0)
        x = x + 0.02 * torch.randn(samples, generator=gen, dtype=torch.float64)
        rows.append(x.clamp(-0.99, 0.99))
    return torch.stack(rows).float()


def summary(x: torch.Tensor, rows: int = 4, cols: int = 8) -> dict:
    """What a fixture keeps of an output ``[B, N, D]``: a corner, a strided sample, the
    token-mean's first dims and overall statistics."""
    x = x.detach().double()
    stride = max(1, x.shape[1] // rows)
    return {
        "shape": list(x.shape),
        "corner": x[:, :rows, :cols].tolist(),
        "strided": x[:, ::stride, ::max(1, x.shape[2] // cols)][:, :rows, :cols].tolist(),
        "token_mean": x.mean(1)[:, :16].tolist(),
        "mean": float(x.mean()), "std": float(x.std()), "abs_sum": float(x.abs().sum()),
    }


def compare(ours: dict, ref: dict) -> float:
    """Largest absolute difference between two :func:`summary` dicts (inf on a shape
    mismatch); the statistics count relative to their size."""
    if ours["shape"] != ref["shape"]:
        return math.inf
    worst = 0.0
    for key in ("corner", "strided", "token_mean"):
        a, b = torch.tensor(ours[key]), torch.tensor(ref[key])
        worst = max(worst, float((a - b).abs().max()))
    for key in ("mean", "std"):
        worst = max(worst, abs(ours[key] - ref[key]))
    n = math.prod(ref["shape"])
    worst = max(worst, abs(ours["abs_sum"] - ref["abs_sum"]) / n)
    return worst
