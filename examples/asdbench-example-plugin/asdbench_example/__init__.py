"""Example asdbench plugin: a log power spectrogram on a linear frequency axis.

A frontend's contract (see ``asdbench.hookspecs.asdbench_frontends``): ``out_shape``, a
parameter-free ``features`` the engine caches, its ``feature_key`` and ``forward(wave, feats)``.
"""

from __future__ import annotations

import torch
from torch import nn

from asdbench import hookimpl
from asdbench.data import AudioSpec
from asdbench.registry import Component


class LinearSpectrogram(nn.Module):
    def __init__(self, options: dict, audio: AudioSpec) -> None:
        super().__init__()
        self.n_fft, self.hop, self.bins = int(options["n_fft"]), int(options["hop"]), int(options["bins"])
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        frames = audio.num_samples // self.hop + 1  # centred STFT
        self.out_shape = (1, self.bins, frames)
        self.feature_key = f"linspec-{self.n_fft}-{self.hop}-{self.bins}-{audio.sample_rate}"

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True)
        return torch.log(spec.abs().pow(2)[:, : self.bins] + 1e-8)

    def forward(self, wave: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return feats.unsqueeze(1)


@hookimpl
def asdbench_frontends() -> list[Component]:
    return [Component("linspec", LinearSpectrogram, {"n_fft": 1024, "hop": 512, "bins": 128},
                      "log power spectrogram, linear frequency axis (example plugin)")]
