"""EAT (Chen et al., IJCAI 2024): Kaldi fbank, 16×16 patch embedding, a CLS token, fixed
2-D sin-cos positions and a post-LN ViT.

Written from the paper and the published model (cwx-worst-one/EAT, ``models/``; the Hugging
Face port ``worstchan/EAT-*``). Module names are asdbench's own; :func:`rename` maps the
published checkpoints' names onto them. Every size comes from the checkpoint (its tensors'
shapes, or a ``cfg`` it carries); :data:`CONFIG_DEFAULTS` fills what they leave out.
Sources of every constant: NOTES.md, "EAT".
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from torch import Tensor, nn

# EAT-base as pre-trained (config/pretraining_AS2M.yaml and the Data2VecMultiConfig defaults).
CONFIG_DEFAULTS: dict[str, Any] = {
    "embed_dim": 768, "depth": 12, "num_heads": 12, "ffn_dim": 3072, "patch_size": 16,
    "max_length": 768, "norm_eps": 1e-6, "qkv_bias": True,
}
ARCHS: dict[str, dict[str, Any]] = {
    "base": dict(CONFIG_DEFAULTS),
    "tiny": {**CONFIG_DEFAULTS, "embed_dim": 32, "depth": 2, "num_heads": 2, "ffn_dim": 128,
             "max_length": 64},
}
# The published preprocessing: fbank statistics, Kaldi options, the frame multiple ASDKit pads to.
FBANK_MEAN = -4.268
FBANK_STD = 4.569
SAMPLE_RATE = 16000
NUM_MEL_BINS = 128
FBANK_OPTIONS: dict[str, Any] = {
    "htk_compat": True, "sample_frequency": SAMPLE_RATE, "use_energy": False,
    "window_type": "hanning", "num_mel_bins": NUM_MEL_BINS, "dither": 0.0, "frame_shift": 10,
}
FRAME_MULTIPLE = 32
# Head width of every published EAT (base: 768 / 12, large: 1024 / 16).
HEAD_DIM = 64


def eat_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """``cfg`` over the EAT-base defaults."""
    return {**CONFIG_DEFAULTS, **(cfg or {})}


def fbank_frames(num_samples: int) -> int:
    """Frames of a 25 ms / 10 ms Kaldi fbank at 16 kHz (whole frames only)."""
    return max(0, (num_samples - 400) // 160 + 1)


def target_frames(num_samples: int) -> int:
    """Frames the fbank of a clip is zero-padded to: the next multiple of 32 (ASDKit; a
    10-s clip gives EAT's pre-training length, 1024)."""
    return math.ceil(fbank_frames(num_samples) / FRAME_MULTIPLE) * FRAME_MULTIPLE


def preprocess(wave: Tensor, frames: int | None = None) -> Tensor:
    """Normalised log-Mel fbank ``[B, T, 128]`` of 16 kHz waveforms ``[B, L]`` in [-1, 1]:
    mean removed, Kaldi fbank, zero-padded (or cut) to ``frames`` (default
    :func:`target_frames`), then ``(x - mean) / (2 · std)``."""
    frames = target_frames(wave.shape[-1]) if frames is None else frames
    wave = wave.float()
    wave = wave - wave.mean(dim=-1, keepdim=True)
    banks = torch.stack([kaldi.fbank(w.unsqueeze(0), **FBANK_OPTIONS) for w in wave])
    banks = F.pad(banks, (0, 0, 0, max(0, frames - banks.shape[1])))[:, :frames]
    return (banks - FBANK_MEAN) / (2 * FBANK_STD)


def grid(num_samples: int, cfg: dict[str, Any]) -> tuple[int, int]:
    """(time patches, frequency patches) of a clip of ``num_samples`` samples."""
    p = int(cfg["patch_size"])
    return target_frames(num_samples) // p, NUM_MEL_BINS // p


def sincos_positions(rows: int, cols: int, dim: int) -> Tensor:
    """Fixed 2-D sin-cos positions ``[rows · cols, dim]`` of a time-major patch grid: the
    first half of the channels encodes the frequency index, the second the time index (the
    MAE layout EAT keeps), each as ``[sin, cos]`` over ``dim / 4`` frequencies."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    time, freq = torch.meshgrid(torch.arange(rows, dtype=torch.float32),
                                torch.arange(cols, dtype=torch.float32), indexing="ij")

    def encode(pos: Tensor) -> Tensor:
        angles = pos.reshape(-1, 1) * omega
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([encode(freq), encode(time)], dim=1)


class DropPath(nn.Module):
    """Stochastic depth: drops a residual branch per example while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.rate)
        return x * keep / (1 - self.rate)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (ASDKit's LoRA target)."""

    def __init__(self, dim: int, heads: int, bias: bool) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed_dim {dim} is not a multiple of num_heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:  # [B, L, D]
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1, dtype=torch.float32)
        return self.proj((attn.to(v.dtype) @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Post-LN transformer block: ``x = LN(x + attn(x)); x = LN(x + mlp(x))``."""

    def __init__(self, cfg: dict[str, Any], drop_path: float = 0.0) -> None:
        super().__init__()
        dim, eps = int(cfg["embed_dim"]), float(cfg["norm_eps"])
        self.attn = Attention(dim, int(cfg["num_heads"]), bool(cfg["qkv_bias"]))
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(cfg["ffn_dim"]))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.drop_path(self.attn(x)))
        return self.norm2(x + self.drop_path(self.mlp(x)))


class EAT(nn.Module):
    """The EAT encoder: ``tokens(fbank)`` maps a normalised fbank ``[B, T, 128]`` to the CLS
    token followed by the patch tokens, ``[B, 1 + N, D]`` (N = time × frequency patches,
    time-major)."""

    extra_tokens = 1  # the CLS token, first

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.cfg = eat_config(cfg)
        c = self.cfg
        dim, p = int(c["embed_dim"]), int(c["patch_size"])
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.cls_token, std=0.02)
        width = NUM_MEL_BINS // p
        self.max_patches = int(c["max_length"]) * width
        # fixed, never trained: recomputed, not read from a checkpoint
        self.register_buffer("positions", sincos_positions(int(c["max_length"]), width, dim),
                             persistent=False)
        self.pre_norm = nn.LayerNorm(dim, eps=float(c["norm_eps"]))
        depth = int(c["depth"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(depth))
        self.embedding_dim, self.depth = dim, depth

    def grid(self, num_samples: int) -> tuple[int, int]:
        """(time patches, frequency patches) of a clip of ``num_samples`` samples."""
        return grid(num_samples, self.cfg)

    def set_drop_path(self, rate: float) -> None:
        """Stochastic depth rising linearly from 0 at the first block to ``rate`` at the
        last (as EAT's fine-tuning; ASDKit's EAT trains with 0.1)."""
        rates = torch.linspace(0, rate, int(self.cfg["depth"])).tolist()
        for block, r in zip(self.blocks, rates, strict=False):
            block.drop_path.rate = r

    def trim(self, layer: int | None) -> None:
        """Drop the blocks after ``layer``, which ``tokens(·, layer)`` never uses."""
        if layer is not None:
            del self.blocks[layer + 1:]

    @staticmethod
    def preprocess(wave: Tensor) -> Tensor:
        return preprocess(wave)

    def tokens(self, fbank: Tensor, layer: int | None = None) -> Tensor:
        x = self.patch_embed(fbank.unsqueeze(1)).flatten(2).transpose(1, 2)  # [B, N, D]
        if x.shape[1] > self.max_patches:
            raise ValueError(f"{x.shape[1]} patches exceed the {self.max_patches} positions "
                             "of this EAT (clips up to max_length × 16 frames)")
        x = x + self.positions[: x.shape[1]]
        x = self.pre_norm(torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == layer:
                break
        return x

    def forward(self, wave: Tensor, layer: int | None = None) -> Tensor:
        """CLS and patch tokens ``[B, 1 + N, D]`` of 16 kHz waveforms ``[B, L]``."""
        return self.tokens(preprocess(wave), layer)


# --- the published checkpoints' names ----------------------------------------------------

# (pattern, replacement) from the fairseq model (cwx-worst-one/EAT) and the Hugging Face port
# (worstchan/EAT-*, after its ``model.`` prefix) to this module's names; None drops a key.
_RENAMES: list[tuple[re.Pattern[str], str | None]] = [(re.compile(p), r) for p, r in (
    (r"^modality_encoders\.IMAGE\.local_encoder\.proj\.", "patch_embed."),
    (r"^local_encoder\.proj\.", "patch_embed."),
    (r"^(modality_encoders\.IMAGE\.)?extra_tokens$", "cls_token"),
    (r"^modality_encoders\.IMAGE\.context_encoder\.norm\.", "pre_norm."),
    (r"^(modality_encoders\.IMAGE\.)?(fixed_positional_encoder\.positions|pos_embed)$",
     "positions"),
    # pre-training or fine-tuning parts the encoder does not use
    (r"^(_ema|modality_encoders\.IMAGE\.decoder\.|shared_decoder\.|recon_proj\.|cls_proj\."
     r"|center$|fc_norm\.|head\.)", None),
)]


def rename(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A published EAT state dict (fairseq or Hugging Face names) in this module's names;
    ``positions`` is kept for :func:`config_from_state`, unknown keys stay as they are."""
    if state and all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        for pattern, replacement in _RENAMES:
            if pattern.search(key):
                key = None if replacement is None else pattern.sub(replacement, key)
                break
        if key is not None:
            out[key] = value
    return out


def official_names(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """This module's state dict in the fairseq model's names (the inverse of :func:`rename`,
    used to write checkpoints in the official format)."""
    prefix = "modality_encoders.IMAGE."
    out = {}
    for key, value in state.items():
        if key.startswith("patch_embed."):
            key = prefix + "local_encoder.proj." + key[len("patch_embed."):]
        elif key == "cls_token":
            key = prefix + "extra_tokens"
        elif key.startswith("pre_norm."):
            key = prefix + "context_encoder.norm." + key[len("pre_norm."):]
        out[key] = value
    return out


def config_from_state(state: dict[str, Tensor], cfg: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """The sizes a renamed state dict implies, over ``cfg`` (a checkpoint's own, if any):
    width, depth, feed-forward width, patch size, position rows; heads of 64 channels
    unless ``cfg`` says otherwise."""
    found: dict[str, Any] = {}
    if "cls_token" in state:
        found["embed_dim"] = int(state["cls_token"].shape[-1])
        found["num_heads"] = max(1, found["embed_dim"] // HEAD_DIM)
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    if blocks:
        found["depth"] = max(blocks) + 1
    if "blocks.0.mlp.fc1.weight" in state:
        found["ffn_dim"] = int(state["blocks.0.mlp.fc1.weight"].shape[0])
    if "blocks.0.attn.qkv.bias" not in state and "blocks.0.attn.qkv.weight" in state:
        found["qkv_bias"] = False
    if "patch_embed.weight" in state:
        found["patch_size"] = int(state["patch_embed.weight"].shape[-1])
    if "positions" in state:
        width = NUM_MEL_BINS // found.get("patch_size", CONFIG_DEFAULTS["patch_size"])
        found["max_length"] = int(state["positions"].shape[-2]) // width
    return {**found, **(cfg or {})}
