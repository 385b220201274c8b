"""BEATs (Chen et al., ICML 2023): Kaldi fbank, 16×16 patch embedding and a post-LN
transformer with gated relative position bias and DeepNorm residuals.

Written from the paper and the published model (microsoft/unilm, folder ``beats``); the
module and parameter names follow the published checkpoints' state dicts, so they load as
they are. Every size comes from the checkpoint's ``cfg`` (:data:`CONFIG_DEFAULTS` fills what
it leaves out). Sources of every constant: NOTES.md.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from torch import Tensor, nn

# The config keys of a BEATs checkpoint and the defaults of the published BEATsConfig.
CONFIG_DEFAULTS: dict[str, Any] = {
    "input_patch_size": 16, "embed_dim": 512, "conv_bias": False,
    "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu",
    "layer_wise_gradient_decay_ratio": 1.0, "layer_norm_first": False, "deep_norm": False,
    "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
    "encoder_layerdrop": 0.0, "dropout_input": 0.0,
    "conv_pos": 128, "conv_pos_groups": 16,
    "relative_position_embedding": False, "num_buckets": 320, "max_distance": 1280,
    "gru_rel_pos": False,
    "finetuned_model": False, "predictor_dropout": 0.1, "predictor_class": 527,
}
# The cfg of the published BEATs_iter3_plus_AS2M.pt (NOTES.md), the size of ``arch = "base"``;
# ``tiny`` keeps its structure at a test size.
ARCHS: dict[str, dict[str, Any]] = {
    "base": {
        "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
        "encoder_attention_heads": 12, "activation_fn": "gelu", "dropout": 0.0,
        "attention_dropout": 0.0, "activation_dropout": 0.0, "encoder_layerdrop": 0.0,
        "dropout_input": 0.0, "layer_norm_first": False, "conv_bias": False, "conv_pos": 128,
        "conv_pos_groups": 16, "relative_position_embedding": True, "num_buckets": 320,
        "max_distance": 800, "gru_rel_pos": True, "deep_norm": True, "input_patch_size": 16,
        "layer_wise_gradient_decay_ratio": 0.6, "embed_dim": 512, "finetuned_model": False,
        "predictor_dropout": 0.0, "predictor_class": 527,
    },
}
ARCHS["tiny"] = {**ARCHS["base"], "encoder_layers": 2, "encoder_embed_dim": 32,
                 "encoder_ffn_embed_dim": 64, "encoder_attention_heads": 2, "conv_pos": 8,
                 "conv_pos_groups": 4, "num_buckets": 16, "max_distance": 32, "embed_dim": 16}
# Waveform scale and fbank statistics of the published preprocessing.
WAVE_SCALE = 2.0 ** 15
FBANK_MEAN = 15.41663
FBANK_STD = 6.55582
SAMPLE_RATE = 16000
NUM_MEL_BINS = 128


def beats_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The checkpoint's ``cfg`` over the published defaults."""
    return {**CONFIG_DEFAULTS, **(cfg or {})}


def fbank_frames(num_samples: int) -> int:
    """Frames of a 25 ms / 10 ms Kaldi fbank at 16 kHz (``snip_edges``: whole frames only)."""
    return max(0, (num_samples - 400) // 160 + 1)


def preprocess(wave: Tensor) -> Tensor:
    """Normalised log-Mel fbank ``[B, T, 128]`` of 16 kHz waveforms ``[B, L]`` in [-1, 1]."""
    banks = [kaldi.fbank(w.unsqueeze(0) * WAVE_SCALE, num_mel_bins=NUM_MEL_BINS,
                         sample_frequency=SAMPLE_RATE, frame_length=25, frame_shift=10)
             for w in wave.float()]
    return (torch.stack(banks) - FBANK_MEAN) / (2 * FBANK_STD)


def grid(num_samples: int, cfg: dict[str, Any]) -> tuple[int, int]:
    """(time patches, frequency patches) of a clip of ``num_samples`` samples."""
    p = int(cfg["input_patch_size"])
    return fbank_frames(num_samples) // p, NUM_MEL_BINS // p


class _GradScale(torch.autograd.Function):
    """Identity forward; gradient times ``scale`` backward (layer-wise gradient decay)."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.scale, None


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> Tensor:
    """T5-style bidirectional bucket of every (query, key) offset, ``[length, length]``."""
    pos = torch.arange(length)
    rel = pos[None, :] - pos[:, None]
    half = num_buckets // 2
    bucket = (rel > 0).long() * half
    rel = rel.abs()
    exact = half // 2
    far = exact + (torch.log(rel.clamp(min=1).float() / exact) / math.log(max_distance / exact)
                   * (half - exact)).long()
    far = far.clamp(max=half - 1)
    return bucket + torch.where(rel < exact, rel, far)


class SelfAttention(nn.Module):
    """Multi-head self-attention with BEATs' gated relative position bias (``grep_*``)."""

    # BEATs stabilises the softmax by computing q·k / α, subtracting the row maximum and
    # multiplying back by α (the published value).
    ALPHA = 32.0

    def __init__(self, dim: int, heads: int, dropout: float, relative: bool, num_buckets: int,
                 max_distance: int, gated: bool) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scaling = self.head_dim ** -0.5
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        if relative:
            self.relative_attention_bias = nn.Embedding(num_buckets, heads)
        self.gated = gated
        if gated:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def position_bias(self, length: int) -> Tensor:
        """``[heads, length, length]`` bias of the shared bucket embedding."""
        table = self.relative_attention_bias.weight
        buckets = relative_buckets(length, self.num_buckets, self.max_distance).to(table.device)
        return F.embedding(buckets, table).permute(2, 0, 1)

    def forward(self, x: Tensor, bias: Tensor | None) -> Tensor:  # x: [B, L, D]
        b, n, d = x.shape
        h, hd = self.heads, self.head_dim
        q = self.q_proj(x) * self.scaling / self.ALPHA
        k, v = self.k_proj(x), self.v_proj(x)
        q = q.view(b, n, h, hd).transpose(1, 2)  # [B, H, L, hd]
        k = k.view(b, n, h, hd).transpose(1, 2)
        v = v.view(b, n, h, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2)
        scores = (scores - scores.amax(dim=-1, keepdim=True)) * self.ALPHA
        if bias is not None:
            if self.gated:
                raw_q = q * self.ALPHA / self.scaling
                gates = torch.sigmoid(self.grep_linear(raw_q).view(b, h, n, 2, 4).sum(-1))
                gate_a, gate_b = gates.chunk(2, dim=-1)
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
            scores = scores + bias
        attn = self.dropout(F.softmax(scores, dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    """Attention and feed-forward blocks, post-LN (or pre-LN with ``layer_norm_first``);
    DeepNorm scales the residual by ``(2 N)^(1/4)``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        dim = int(cfg["encoder_embed_dim"])
        if cfg["activation_fn"] != "gelu":
            raise ValueError(f"activation_fn {cfg['activation_fn']!r}: only gelu is supported")
        self.self_attn = SelfAttention(dim, int(cfg["encoder_attention_heads"]),
                                       float(cfg["attention_dropout"]),
                                       bool(cfg["relative_position_embedding"]),
                                       int(cfg["num_buckets"]), int(cfg["max_distance"]),
                                       bool(cfg["gru_rel_pos"]))
        self.dropout1 = nn.Dropout(float(cfg["dropout"]))
        self.dropout2 = nn.Dropout(float(cfg["activation_dropout"]))
        self.dropout3 = nn.Dropout(float(cfg["dropout"]))
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, int(cfg["encoder_ffn_embed_dim"]))
        self.fc2 = nn.Linear(int(cfg["encoder_ffn_embed_dim"]), dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.pre_norm = bool(cfg["layer_norm_first"])
        self.alpha = (2 * int(cfg["encoder_layers"])) ** 0.25 if cfg["deep_norm"] else 1.0

    def feed_forward(self, x: Tensor) -> Tensor:
        x = F.gelu(self.fc1(x).float()).type_as(x)
        return self.dropout3(self.fc2(self.dropout2(x)))

    def forward(self, x: Tensor, bias: Tensor | None) -> Tensor:
        if self.pre_norm:
            x = x + self.dropout1(self.self_attn(self.self_attn_layer_norm(x), bias))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.self_attn_layer_norm(x * self.alpha + self.dropout1(self.self_attn(x, bias)))
        return self.final_layer_norm(x * self.alpha + self.feed_forward(x))


class PositionalConv(nn.Module):
    """Grouped convolution over the token sequence, weight-normalised over the kernel axis
    (``weight_g``/``weight_v``), trimmed to the input length, then GELU."""

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(dim, dim // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.weight_v, std=math.sqrt(4.0 / (kernel * dim)))

    def forward(self, x: Tensor) -> Tensor:  # [B, D, L]
        v = self.weight_v
        weight = v * (self.weight_g / v.norm(dim=(0, 1), keepdim=True))
        y = F.conv1d(x, weight, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[:, :, :-1]
        return F.gelu(y)


class TransformerEncoder(nn.Module):
    """Positional convolution, then the layers; the relative bias table is layer 0's,
    shared by every layer (as the published model does)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        dim = int(cfg["encoder_embed_dim"])
        # a Sequential keeps the checkpoint's key ``encoder.pos_conv.0.*``
        self.pos_conv = nn.Sequential(PositionalConv(dim, int(cfg["conv_pos"]),
                                                     int(cfg["conv_pos_groups"])))
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(int(cfg["encoder_layers"])))
        self.relative = bool(cfg["relative_position_embedding"])
        if self.relative:
            shared = self.layers[0].self_attn.relative_attention_bias
            for layer in self.layers[1:]:
                layer.self_attn.relative_attention_bias = shared
        self.layer_norm = nn.LayerNorm(dim)
        self.pre_norm = bool(cfg["layer_norm_first"])
        self.dropout = float(cfg["dropout"])
        self.layerdrop = float(cfg["encoder_layerdrop"])
        self.grad_decay = float(cfg["layer_wise_gradient_decay_ratio"])

    def forward(self, x: Tensor, layer: int | None = None) -> Tensor:
        """Tokens ``[B, L, D]`` after every layer, or after layer ``layer`` (0-based)."""
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        if not self.pre_norm:
            x = self.layer_norm(x)
        x = F.dropout(x, p=self.dropout, training=self.training)
        bias = (self.layers[0].self_attn.position_bias(x.shape[1]).unsqueeze(0)
                if self.relative else None)
        for i, block in enumerate(self.layers):
            if self.grad_decay != 1.0:
                x = _GradScale.apply(x, self.grad_decay)
            if not self.training or self.layerdrop == 0 or float(torch.rand(())) > self.layerdrop:
                x = block(x, bias)
            if i == layer:
                return x
        return self.layer_norm(x) if self.pre_norm else x


class BEATs(nn.Module):
    """The BEATs encoder: ``tokens(fbank)`` maps a normalised fbank ``[B, T, 128]`` to
    patch tokens ``[B, N, D]`` (N = time patches × frequency patches, time-major)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.cfg = beats_config(cfg)
        c = self.cfg
        embed, dim, p = int(c["embed_dim"]), int(c["encoder_embed_dim"]), int(c["input_patch_size"])
        self.post_extract_proj = nn.Linear(embed, dim) if embed != dim else None
        self.patch_embedding = nn.Conv2d(1, embed, kernel_size=p, stride=p, bias=bool(c["conv_bias"]))
        self.dropout_input = nn.Dropout(float(c["dropout_input"]))
        self.encoder = TransformerEncoder(c)
        self.layer_norm = nn.LayerNorm(embed)
        self.predictor = (nn.Linear(dim, int(c["predictor_class"]))
                          if c["finetuned_model"] else None)
        self.embedding_dim = dim
        self.depth = int(c["encoder_layers"])

    def grid(self, num_samples: int) -> tuple[int, int]:
        """(time patches, frequency patches) of a clip of ``num_samples`` samples."""
        return grid(num_samples, self.cfg)

    def trim(self, layer: int | None) -> None:
        """Drop what ``tokens(·, layer)`` never uses: the AudioSet classifier, later layers."""
        self.predictor = None
        if layer is not None:
            del self.encoder.layers[layer + 1:]

    @staticmethod
    def preprocess(wave: Tensor) -> Tensor:
        return preprocess(wave)

    def tokens(self, fbank: Tensor, layer: int | None = None) -> Tensor:
        x = self.patch_embedding(fbank.unsqueeze(1))  # [B, E, T/p, F/p]
        x = self.layer_norm(x.flatten(2).transpose(1, 2))
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        return self.encoder(self.dropout_input(x), layer)

    def forward(self, wave: Tensor, layer: int | None = None) -> Tensor:
        """Tokens ``[B, N, D]`` of 16 kHz waveforms ``[B, L]``, preprocessing included."""
        return self.tokens(preprocess(wave), layer)
