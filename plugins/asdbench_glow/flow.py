"""Glow (Kingma & Dhariwal, NeurIPS 2018): a multi-scale flow of steps actnorm -> invertible
1x1 convolution -> affine coupling, with the log-det-Jacobian of every layer kept.

Every layer maps ``x -> (y, logdet)`` with ``logdet`` of shape ``[N]`` (nats), and has an exact
``inverse``. :class:`Glow` gives ``log p(x)`` of each sample: the standard-normal log-density
of the top latent, the learned conditional priors of the halves split off between levels and
the sum of the log-dets (change of variables). Sources of each choice: NOTES.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(x: Tensor, mean: Tensor | None = None,
                         logs: Tensor | None = None) -> Tensor:
    """``sum log N(x; mean, exp(logs)^2)`` over every dimension but the first: ``[N]``."""
    if mean is None:
        return -0.5 * (x.pow(2) + LOG_2PI).flatten(1).sum(1)
    z = (x - mean) * torch.exp(-logs)
    return (-0.5 * (z.pow(2) + LOG_2PI) - logs).flatten(1).sum(1)


def squeeze2d(x: Tensor) -> Tensor:
    """``[N, C, H, W] -> [N, 4C, H/2, W/2]``: each 2x2 block of pixels becomes 4 channels."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze2d(x: Tensor) -> Tensor:
    """The inverse of :func:`squeeze2d`."""
    n, c, h, w = x.shape
    x = x.reshape(n, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, 2 * h, 2 * w)


class ActNorm(nn.Module):
    """``y = (x + bias) * exp(logs)`` per channel; log-det ``H·W·sum(logs)``. Initialised from
    the first training batch it sees so that its output has zero mean and unit variance per
    channel (Glow's data-dependent initialisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        # saved with the weights: a reloaded or resumed model is not initialised again
        self.register_buffer("initialized", torch.tensor(False))
        self._ready = False  # cache of the buffer: no host sync per step once initialised

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        mean = x.mean((0, 2, 3), keepdim=True)
        std = x.std((0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)
        self._ready = True

    def _maybe_initialize(self, x: Tensor) -> None:
        # only a training forward with gradients initialises (not validation, not an EMA copy)
        if self._ready or not (self.training and torch.is_grad_enabled()):
            return
        if bool(self.initialized):
            self._ready = True
        else:
            self.initialize(x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._maybe_initialize(x)
        h, w = x.shape[2:]
        logdet = (h * w) * self.logs.sum()
        return (x + self.bias) * torch.exp(self.logs), logdet.expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.logs) - self.bias


class InvConv1x1(nn.Module):
    """A learned channel mixing ``y = W x`` at every pixel, W initialised as a random rotation;
    log-det ``H·W·log|det W|``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        self.weight = nn.Parameter(q)

    def logabsdet(self) -> Tensor:
        return torch.linalg.slogdet(self.weight)[1]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        c = self.weight.shape[0]
        h, w = x.shape[2:]
        y = F.conv2d(x, self.weight.view(c, c, 1, 1))
        return y, ((h * w) * self.logabsdet()).expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        c = self.weight.shape[0]
        return F.conv2d(y, torch.linalg.inv(self.weight).view(c, c, 1, 1))


def coupling_network(n_in: int, n_out: int, hidden: int, init_std: float) -> nn.Sequential:
    """Glow's NN(): conv 3x3 -> ReLU -> conv 1x1 -> ReLU -> conv 3x3, the last one drawn
    N(0, init_std) (0: Glow's zero initialisation, each coupling the identity up to its
    constant scale at the start)."""
    last = nn.Conv2d(hidden, n_out, 3, padding=1)
    nn.init.normal_(last.weight, std=init_std) if init_std > 0 else nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(n_in, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 1), nn.ReLU(), last)


class AffineCoupling(nn.Module):
    """``x = [xa, xb]``; ``(shift, h) = NN(xa)``; ``yb = (xb + shift)·sigmoid(h + 2)``, ``ya = xa``
    (Glow's affine coupling); log-det ``sum log sigmoid(h + 2)``."""

    def __init__(self, channels: int, hidden: int, init_std: float) -> None:
        super().__init__()
        self.half = channels // 2
        self.net = coupling_network(self.half, 2 * (channels - self.half), hidden, init_std)

    def _shift_scale(self, xa: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(xa)
        return h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        xa, xb = x[:, :self.half], x[:, self.half:]
        shift, scale = self._shift_scale(xa)
        yb = (xb + shift) * scale
        return torch.cat([xa, yb], 1), torch.log(scale).flatten(1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        ya, yb = y[:, :self.half], y[:, self.half:]
        shift, scale = self._shift_scale(ya)
        return torch.cat([ya, yb / scale - shift], 1)


class FlowStep(nn.Module):
    """One step of flow: actnorm, invertible 1x1 convolution, affine coupling."""

    def __init__(self, channels: int, hidden: int, init_std: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvConv1x1(channels),
                                     AffineCoupling(channels, hidden, init_std)])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


def zero_conv(n_in: int, n_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(n_in, n_out, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class Glow(nn.Module):
    """``levels`` levels of squeeze + ``steps`` flow steps; after every level but the last,
    half of the channels is split off and scored under a Gaussian whose mean and log-scale a
    zero-initialised 3x3 convolution computes from the other half (Glow's ``split2d``)."""

    def __init__(self, in_shape: tuple[int, int, int], levels: int, steps: int, hidden: int,
                 init_std: float = 0.0) -> None:
        super().__init__()
        c, h, w = in_shape
        if h % 2 ** levels or w % 2 ** levels:
            raise ValueError(f"Glow of {levels} levels needs sizes divisible by "
                             f"{2 ** levels}, got {h}x{w}")
        self.levels = nn.ModuleList()
        self.priors = nn.ModuleList()
        for level in range(levels):
            c *= 4
            self.levels.append(nn.ModuleList(FlowStep(c, hidden, init_std)
                                             for _ in range(steps)))
            if level < levels - 1:
                self.priors.append(zero_conv(c // 2, 2 * (c - c // 2)))
                c //= 2

    def forward(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """``(latents, log p(x))``: the halves split off at each level and the top latent
        (what :meth:`inverse` takes), and ``log p(x)`` of each sample ``[N]`` in nats."""
        logp = x.new_zeros(x.shape[0])
        latents = []
        for i, steps in enumerate(self.levels):
            x = squeeze2d(x)
            for step in steps:
                x, logdet = step(x)
                logp = logp + logdet
            if i < len(self.priors):
                x, z = x[:, :x.shape[1] // 2], x[:, x.shape[1] // 2:]
                h = self.priors[i](x)
                logp = logp + gaussian_log_density(z, h[:, 0::2], h[:, 1::2])
                latents.append(z)
        latents.append(x)
        return latents, logp + gaussian_log_density(x)

    def log_prob(self, x: Tensor) -> Tensor:
        return self(x)[1]

    def inverse(self, latents: list[Tensor]) -> Tensor:
        x = latents[-1]
        for i in reversed(range(len(self.levels))):
            if i < len(self.priors):
                x = torch.cat([x, latents[i]], 1)
            for step in reversed(self.levels[i]):
                x = step.inverse(x)
            x = unsqueeze2d(x)
        return x
