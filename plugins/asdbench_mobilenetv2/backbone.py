"""MobileNetV2 (Sandler et al., CVPR 2018) on a spectrogram: inverted residual blocks with
linear bottlenecks, the paper's (t, c, n, s) table, a width multiplier, global average pooling.

Written from the paper's Table 2 and section 3-4 (facts and sources in NOTES.md):
the input map ``[B, C, F, T]`` is treated as an image with the frequency bins as height and
the frames as width; the embedding is the last 1x1 conv's feature map averaged over both axes.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError

# Sandler et al., Table 2: (expansion t, output channels c, repeats n, first stride s)
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32  # Table 2, first row: conv2d 3x3, 32 channels, stride 2
DIVISOR = 8  # channels after the width multiplier are rounded to a multiple of 8


class Block(NamedTuple):
    """One inverted residual block: expansion, input/output channels, stride."""

    t: int
    inp: int
    out: int
    stride: int

    @property
    def hidden(self) -> int:
        return self.inp * self.t

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.out


def round_channels(channels: float, divisor: int = DIVISOR) -> int:
    """The nearest multiple of ``divisor`` (at least ``divisor``), never more than 10 % below
    ``channels``: the rounding of the reference implementations of the width multiplier."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def block_table(width: float = 1.0) -> list[Block]:
    """Every inverted residual block in order, its channels scaled by ``width``."""
    blocks, inp = [], round_channels(STEM_CHANNELS * width)
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        out = round_channels(c * width)
        for i in range(n):
            blocks.append(Block(t, inp, out, s if i == 0 else 1))
            inp = out
    return blocks


def last_channels(width: float, channels: int) -> int:
    """The last 1x1 conv's width: ``channels``, widened (never narrowed) by ``width`` (the
    paper applies the multiplier to every layer but the last when it is below 1)."""
    return round_channels(channels * width) if width > 1.0 else channels


def conv_bn(inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1,
            relu6: bool = True) -> nn.Sequential:
    """conv (no bias, 'same' padding) -> BN -> ReLU6; no activation when ``relu6`` is False
    (the linear bottleneck)."""
    layers: list[nn.Module] = [nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(out)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand (absent when t = 1) -> 3x3 depthwise (stride s) -> 1x1 linear projection;
    the input is added back when the stride is 1 and the channels match."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.residual = block.residual
        layers = [] if block.t == 1 else [conv_bn(block.inp, block.hidden, 1)]
        layers += [conv_bn(block.hidden, block.hidden, 3, block.stride, groups=block.hidden),
                   conv_bn(block.hidden, block.out, 1, relu6=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """``[B, C, F, T]`` -> ``[B, embedding_dim]``: stem, the 17 blocks, 1x1 conv to
    ``embedding_dim`` channels, global average pooling. Any frequency/frame count works (the
    map shrinks 32-fold on each axis, rounding up)."""

    def __init__(self, in_shape: tuple[int, int, int], width: float = 1.0,
                 channels: int = 1280, repeat_channels: int = 1) -> None:
        super().__init__()
        self.in_shape = tuple(int(v) for v in in_shape)
        self.repeat_channels = int(repeat_channels)
        self.blocks_table = block_table(width)
        self.embedding_dim = last_channels(width, channels)
        stem_in = self.in_shape[0] * self.repeat_channels
        self.stem = conv_bn(stem_in, self.blocks_table[0].inp, 3, stride=2)
        self.blocks = nn.Sequential(*(InvertedResidual(b) for b in self.blocks_table))
        self.head = conv_bn(self.blocks_table[-1].out, self.embedding_dim, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # He (fan-out) normal for convs, BN as identity: the reference implementations' choice
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last 1x1 conv's output ``[B, embedding_dim, ceil(F/32), ceil(T/32)]``."""
        if self.repeat_channels > 1:
            x = x.repeat(1, self.repeat_channels, 1, 1)
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.feature_map(x).mean(dim=(2, 3)), 1)


def map_size(size: int, strides: int = 5) -> int:
    """Size of one axis after the stem and the four stride-2 stages: ``ceil(size / 32)``."""
    return math.ceil(size / 2 ** strides)


def mobilenetv2_factory(options: dict[str, Any], in_shape: tuple[int, int, int]) -> MobileNetV2:
    if len(in_shape) != 3:
        raise AsdbenchError(f"mobilenetv2 expects a (channels, freq, frames) input, "
                            f"got {in_shape}")
    return MobileNetV2(tuple(int(v) for v in in_shape), float(options["width"]),
                       int(options["last_channels"]), int(options["repeat_channels"]))
