"""Frame-level inputs: the ``frames`` backbone, context windows and the class groups.

A frame-level method needs the spectrogram itself, not a pooled embedding: the ``frames``
backbone passes it through flattened (``embedding_dim = C·F·T``), and the method cuts it into
windows of consecutive frames, as the organisers' ``file_to_vector_array`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo, IncompatibleComponents


class FramesBackbone(nn.Module):
    """No parameters: ``[B, C, F, T] -> [B, C·F·T]`` (the frames, for frame-level methods)."""

    def __init__(self, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.in_shape = tuple(int(v) for v in in_shape)
        c, f, t = self.in_shape
        self.embedding_dim = c * f * t

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


def frames_factory(options: dict[str, Any], in_shape: tuple[int, int, int]) -> FramesBackbone:
    return FramesBackbone(in_shape)


def frame_layout(name: str, embedding_dim: int, frontend_info: FrontendInfo,
                 frames: int) -> tuple[int, int]:
    """``(values per frame, frames per clip)`` of a frame-level method's input; an error when
    the backbone did not pass the frames through or a clip has fewer than ``frames + 1``
    frames (BatchNorm needs two windows)."""
    c, f, t = frontend_info.out_shape
    if embedding_dim != c * f * t:
        raise IncompatibleComponents(
            f"method '{name}' works on spectrogram frames: use backbone 'frames' (this "
            f"backbone gives {embedding_dim} values for a {c}x{f}x{t} input)")
    if t < frames + 1:
        raise AsdbenchError(f"method '{name}': a clip has {t} frames, fewer than "
                            f"method.frames + 1 = {frames + 1} (longer clips or fewer frames)")
    return c * f, t


def windows(z: Tensor, values: int, frames: int) -> Tensor:
    """Every window of ``frames`` consecutive frames of each clip, concatenated frame after
    frame: ``[B, values·T] -> [B, T - frames + 1, frames·values]``."""
    x = z.reshape(z.shape[0], values, -1)  # [B, C·F, T]
    w = x.unfold(2, frames, 1)  # [B, C·F, W, frames]
    return w.permute(0, 2, 3, 1).reshape(x.shape[0], w.shape[2], frames * values)


def class_groups(class_names: Sequence[str] | None, num_classes: int, models: str) -> list[int]:
    """The network of each class: by machine type (``"<type>/<id>"``), by class, or one. Without
    class names (``asdbench describe``) every class shares one network: one type's model."""
    if models == "class":
        return list(range(num_classes))
    if models == "one" or class_names is None:
        return [0] * num_classes
    types = sorted({name.split("/")[0] for name in class_names})
    return [types.index(name.split("/")[0]) for name in class_names]


def group_index(groups: list[int]) -> Tensor:
    return torch.tensor(groups, dtype=torch.long)
