"""Frame-level methods whose anomaly score is their own error: the DCASE 2020 autoencoder
baseline (``dcase2020-ae``) and IDNN (``idnn``).

Each keeps one network per group of classes (a machine type, by default, as the organisers
train one model per type) and routes every clip to its class's network. The embedding of a
clip is its mean error under each group's network (``[B, G]``); ``logits(e, labels)`` gives
each clip's score as a clip of each class (the error under that class's network), which the
``method`` scorer reads at the clip's own class (``own_score = True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, FrontendInfo
from asdbench_dcase_baselines.frames import class_groups, frame_layout, group_index, windows


def keras_dense(n_in: int, n_out: int) -> nn.Linear:
    """A Dense layer as Keras initialises it: glorot-uniform kernel, zero bias."""
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def dense_bn_relu(n_in: int, n_out: int, momentum: float) -> list[nn.Module]:
    # Keras BatchNormalization: epsilon 1e-3, momentum 0.99 (torch counts 1 - it: 0.01)
    return [keras_dense(n_in, n_out), nn.BatchNorm1d(n_out, eps=1e-3, momentum=momentum),
            nn.ReLU()]


def dcase2020_autoencoder(dim: int, units: int, depth: int, bottleneck: int,
                          momentum: float = 0.01, init: str = "keras") -> nn.Sequential:
    """The organisers' ``keras_model.get_model``: ``depth`` × Dense(units)+BN+ReLU,
    Dense(bottleneck)+BN+ReLU, ``depth`` × Dense(units)+BN+ReLU, Dense(dim); the 2023-2025
    PyTorch ``AENet`` is the same stack. ``init``: "keras" (glorot-uniform, zero bias, the
    2020-2022 Keras baselines) or "torch" (``nn.Linear``'s own, the 2023-2025 baseline)."""
    widths = [dim] + [units] * depth + [bottleneck] + [units] * depth
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += dense_bn_relu(n_in, n_out, momentum)
    layers.append(keras_dense(units, dim))
    if init == "torch":
        for layer in layers:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    return nn.Sequential(*layers)


def idnn_network(n_in: int, n_out: int, units: int, depth: int) -> nn.Sequential:
    """Encoder Linear+ReLU of widths units, units/2, ... (``depth`` layers), decoder mirroring
    it back up, then Linear to the frame."""
    enc = [max(1, units >> i) for i in range(depth)]
    widths = [n_in] + enc + enc[-2::-1]
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], n_out))
    return nn.Sequential(*layers)


class FrameErrorMethod(nn.Module):
    """One network per class group; the error of each window is the method's loss and score.

    Subclasses build a group's network (:meth:`network`) and compute the error of each window
    under one network (:meth:`window_errors`)."""

    own_score = True  # logits(e, labels) are anomaly scores, not class logits
    mixup_alpha = None  # trained on the clips as they are

    def __init__(self, name: str, options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo, class_names: Sequence[str] | None) -> None:
        super().__init__()
        self.frames = int(options["frames"])
        self.values, _ = frame_layout(name, embedding_dim, frontend_info, self.frames)
        groups = class_groups(class_names, num_classes, options["models"])
        # the routing is derived from the classes, not learned: not part of the saved weights
        self.register_buffer("group_of_class", group_index(groups), persistent=False)
        self.nets = nn.ModuleList(self.network(options) for _ in range(max(groups) + 1))

    def network(self, options: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def window_errors(self, net: nn.Module, win: Tensor) -> Tensor:
        """``[N, W, frames·values]`` windows -> ``[N, W]`` errors (mean squared error)."""
        raise NotImplementedError

    def loss(self, z: Tensor, y_a: Tensor, y_b: Tensor, lam: float) -> tuple[Tensor, None]:
        """Mean error over every window of the batch, each clip through its class's network
        (BatchNorm statistics per network, from its own clips). No class logits."""
        win = windows(z, self.values, self.frames)
        groups = self.group_of_class[y_a]
        total = win.new_zeros(())
        for g in torch.unique(groups).tolist():  # one host sync per group: data-dependent routing
            total = total + self.window_errors(self.nets[g], win[groups == g]).sum()
        return total / (win.shape[0] * win.shape[1]), None

    def embed(self, z: Tensor) -> Tensor:
        """``[B, G]``: each clip's mean window error under each group's network."""
        win = windows(z, self.values, self.frames)
        return torch.stack([self.window_errors(net, win).mean(1) for net in self.nets], 1)

    def logits(self, e: Tensor, labels: Tensor | None) -> Tensor:
        """``[B, K]``: column k is the clip's anomaly score as a clip of class k."""
        return e[:, self.group_of_class]


class DCASE2020AE(FrameErrorMethod):
    """The DCASE 2020 Task 2 baseline: a dense autoencoder of 5 concatenated frames; score =
    mean reconstruction error over the clip's windows."""

    def network(self, options: dict[str, Any]) -> nn.Module:
        return dcase2020_autoencoder(self.frames * self.values, int(options["units"]),
                                     int(options["depth"]), int(options["bottleneck"]),
                                     float(options["bn_momentum"]))

    def residuals(self, net: nn.Module, win: Tensor) -> Tensor:
        """``[N, W, d]`` windows -> their reconstruction errors ``net(x) - x``, same shape."""
        n, w, d = win.shape
        flat = win.reshape(n * w, d)
        return (net(flat) - flat).reshape(n, w, d)

    def window_errors(self, net: nn.Module, win: Tensor) -> Tensor:
        return self.residuals(net, win).pow(2).mean(2)


class IDNN(FrameErrorMethod):
    """Interpolation DNN: the centre frame of each window from the frames around it; score =
    mean interpolation error over the clip's windows."""

    def __init__(self, name: str, options: dict[str, Any], *args: Any) -> None:
        if int(options["frames"]) % 2 == 0:
            raise AsdbenchError(f"method '{name}': method.frames must be odd (a centre "
                                f"frame), got {options['frames']}")
        super().__init__(name, options, *args)

    def network(self, options: dict[str, Any]) -> nn.Module:
        return idnn_network((self.frames - 1) * self.values, self.values,
                            int(options["units"]), int(options["depth"]))

    def split_centre(self, win: Tensor) -> tuple[Tensor, Tensor]:
        """``(context, centre)``: the window without its centre frame, and the centre frame."""
        v, mid = self.values, self.frames // 2
        centre = win[..., mid * v:(mid + 1) * v]
        context = torch.cat([win[..., :mid * v], win[..., (mid + 1) * v:]], -1)
        return context, centre

    def window_errors(self, net: nn.Module, win: Tensor) -> Tensor:
        n, w, _ = win.shape
        context, centre = self.split_centre(win)
        pred = net(context.reshape(n * w, -1))
        return (pred - centre.reshape(n * w, -1)).pow(2).mean(1).reshape(n, w)


def dcase2020_ae_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                         frontend_info: FrontendInfo,
                         class_names: Sequence[str] | None = None) -> DCASE2020AE:
    return DCASE2020AE("dcase2020-ae", options, num_classes, embedding_dim, frontend_info,
                       class_names)


def idnn_factory(options: dict[str, Any], num_classes: int, embedding_dim: int,
                 frontend_info: FrontendInfo, class_names: Sequence[str] | None = None) -> IDNN:
    return IDNN("idnn", options, num_classes, embedding_dim, frontend_info, class_names)
