"""Provide frontend ``linspec``: a log power spectrogram on a linear frequency axis (an example).

The engine computes and caches ``features`` once per clip; ``forward`` gets the waveform and them.
"""

from __future__ import annotations

import torch
from torch import nn

from asdbench.sdk import AudioSpec, Component, Option, hookimpl

OPTIONS = {
    "n_fft": Option(1024, minimum=2, help="FFT size"),
    "hop": Option(512, minimum=1, help="hop between frames (samples)"),
    "bins": Option(128, minimum=1, help="lowest frequency bins kept"),
}


class LinearSpectrogram(nn.Module):
    traits = frozenset({"linear-spectrogram"})

    def __init__(self, options: dict, audio: AudioSpec) -> None:
        super().__init__()
        self.n_fft, self.hop, self.bins = options["n_fft"], options["hop"], options["bins"]
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
    return [Component("linspec", LinearSpectrogram, OPTIONS,
                      "log power spectrogram, linear frequency axis (example plugin)")]
