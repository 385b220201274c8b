"""MobileFaceNet as used by STgram-MFN, Noisy-ArcMix and OS-SCL (DCASE2022 Liu bottlenecks)."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from asdbench.sdk import AsdbenchError

# (expansion t, out channels c, repeats n, first stride s)
BOTTLENECK_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (2, 128, 2, 2),
    (4, 128, 2, 2),
    (4, 128, 2, 2),
)


def _out_size(size: int, stride: int) -> int:
    # k3/p1 convolutions (and the 1×1 ones) map n to ceil(n / stride)
    return (size - 1) // stride + 1


def final_map_size(freq: int, frames: int,
                   setting=BOTTLENECK_SETTING) -> tuple[int, int]:
    """Feature-map size entering the global depthwise conv (8×20 for a 128×313 input)."""
    strides = [2] + [s for _, _, _, s in setting]
    for s in strides:
        freq, frames = _out_size(freq, s), _out_size(frames, s)
    return freq, frames


class ConvBlock(nn.Module):
    """conv (no bias) → BN → PReLU; no PReLU when ``linear``; depthwise when ``dw``."""

    def __init__(self, inp: int, oup: int, k, s: int, p, dw: bool = False,
                 linear: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, k, s, p, groups=inp if dw else 1, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        self.prelu = None if linear else nn.PReLU(oup)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class Bottleneck(nn.Module):
    """1×1 expand → BN → PReLU → 3×3 depthwise (stride s) → BN → PReLU → 1×1 project → BN."""

    def __init__(self, inp: int, oup: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = inp * expansion
        self.connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.PReLU(hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.connect else self.conv(x)


class MobileFaceNet(nn.Module):
    """``[B, C, F, T]`` → ``[B, embedding_dim]``; the last depthwise conv spans the whole
    remaining map, so its kernel is derived from ``in_shape``. The authors' unused ``fc_out``
    classifier is left out."""

    def __init__(self, in_shape: tuple[int, int, int], embedding_dim: int = 128,
                 setting=BOTTLENECK_SETTING) -> None:
        super().__init__()
        channels, freq, frames = in_shape
        self.embedding_dim = embedding_dim
        self.conv1 = ConvBlock(channels, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, dw=True)
        layers, inplanes = [], 64
        for t, c, n, s in setting:
            for i in range(n):
                layers.append(Bottleneck(inplanes, c, s if i == 0 else 1, t))
                inplanes = c
        self.blocks = nn.Sequential(*layers)
        self.conv2 = ConvBlock(inplanes, 512, 1, 1, 0)
        self.map_size = final_map_size(freq, frames, setting)
        self.linear7 = ConvBlock(512, 512, self.map_size, 1, 0, dw=True, linear=True)
        self.linear1 = ConvBlock(512, embedding_dim, 1, 1, 0, linear=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.dw_conv1(self.conv1(x)))
        x = self.linear1(self.linear7(self.conv2(x)))
        return x.flatten(1)


def mobilefacenet_factory(options: dict[str, Any], in_shape: tuple[int, int, int]) -> MobileFaceNet:
    dim = int(options["embedding_dim"])  # checked by the registry (MOBILEFACENET_OPTIONS)
    if len(in_shape) != 3:
        raise AsdbenchError(f"mobilefacenet expects a (channels, freq, frames) input, got {in_shape}")
    return MobileFaceNet(tuple(int(v) for v in in_shape), dim)
