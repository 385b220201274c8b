"""Input features: log-Mel, Tgram (STgram-MFN), TFgram (OS-SCL Table I), TAgram (Noisy-ArcMix).

Every size derives from the audio spec and the hop: ``T = num_samples // hop + 1`` frames (the
centred STFT), Tgram's strided conv gives the same T, TFgram pools to 2T then T.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from asdbench.sdk import LOG_MEL, AsdbenchError, AudioSpec
from asdbench_osscl.options import FUSIONS, LOGMEL_OPTIONS

# The traits a fused frontend declares (what methods see of it): one per kind of map stacked.
TRAITS = {"mel": LOG_MEL, "tgram": "tgram", "tfgram": "tfgram", "tagram": "tagram"}

def num_frames(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT (torchaudio's default ``center=True``)."""
    return num_samples // hop_length + 1


def conv_out_length(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


def temporal_attention(mel: Tensor) -> Tensor:
    """TAgram: ``mel × sigmoid(max_f mel + mean_f mel)``, one weight per frame (Noisy-ArcMix)."""
    weight = torch.sigmoid(mel.amax(dim=-2, keepdim=True) + mel.mean(dim=-2, keepdim=True))
    return mel * weight


# Noisy-ArcMix's floor: sys.float_info.epsilon added to the Mel energies
EPSILON_FLOOR = 2.220446049250313e-16


def log_with_added_floor(mel: Tensor, power: float) -> Tensor:
    """``20 / power * log10(mel + 2.2e-16)``: dB with the floor added, not clamped."""
    return 20.0 / float(power) * torch.log10(mel + EPSILON_FLOOR)


class LogMel(nn.Module):
    """MelSpectrogram → AmplitudeToDB, as the OS-SCL code computes it (parameter-free);
    ``log_floor="add"`` gives Noisy-ArcMix's :func:`log_with_added_floor` instead."""

    def __init__(self, audio: AudioSpec, n_fft: int, win_length: int, hop_length: int,
                 n_mels: int, power: float, pad_mode: str, norm: str | None,
                 mel_scale: str, log_floor: str = "clamp") -> None:
        super().__init__()
        self.power, self.log_floor = float(power), log_floor
        norm = None if norm in (None, "none", "") else norm
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=audio.sample_rate, n_fft=n_fft, win_length=win_length,
            hop_length=hop_length, n_mels=n_mels, power=power, pad_mode=pad_mode, norm=norm,
            mel_scale=mel_scale)
        # the authors convert a power spectrogram (power=2); for a magnitude one use 20·log10
        self.to_db = torchaudio.transforms.AmplitudeToDB(
            stype="power" if float(power) == 2.0 else "magnitude")

    def forward(self, wave: Tensor) -> Tensor:
        # STFT in float32 even under autocast: the dB values feed the cache and mixup
        with torch.autocast(wave.device.type, enabled=False):
            mel = self.mel(wave.float())
            if self.log_floor == "add":
                return log_with_added_floor(mel, self.power)
            return self.to_db(mel)


class TgramNet(nn.Module):
    """Tgram: a strided conv over the waveform (one "frame" per hop), then
    ``layers`` × [LayerNorm over time, LeakyReLU(0.2), Conv1d k3]. PyTorch default init."""

    def __init__(self, channels: int, win_length: int, hop_length: int, frames: int,
                 layers: int = 3) -> None:
        super().__init__()
        # padding = win/2 mimics a centred STFT so the frame count matches the log-Mel
        self.conv_extractor = nn.Conv1d(1, channels, win_length, hop_length, win_length // 2,
                                        bias=False)
        self.conv_encoder = nn.Sequential(*[
            nn.Sequential(nn.LayerNorm(frames), nn.LeakyReLU(0.2),
                          nn.Conv1d(channels, channels, 3, 1, 1, bias=False))
            for _ in range(layers)])

    def forward(self, wave: Tensor) -> Tensor:  # [B, L] -> [B, C, T]
        return self.conv_encoder(self.conv_extractor(wave.unsqueeze(1)))


class TFgramBlock(nn.Module):
    """Conv1d(k3, p1) → BN → ReLU → Conv1d(k3, dilation 2, p2) → BN → ReLU (no conv bias)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, 1, 2, dilation=2, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        _init_tfgram(self)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


def _init_tfgram(module: nn.Module) -> None:
    # PANNs' init, kept by the OS-SCL code: Xavier-uniform convs, BN weight 1 / bias 0
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class TFgramNet(nn.Module):
    """TFgram (OS-SCL Table I, code version): Conv1d(1→w, k11, s5, p5) → BN → ReLU →
    block(w→w) → MaxPool(4) → block(w→C) → AdaptiveMaxPool(2T) → block(C→C) → AdaptiveMaxPool(T)."""

    def __init__(self, channels: int, frames: int, width: int = 64) -> None:
        super().__init__()
        self.frames = frames
        self.pre_conv0 = nn.Conv1d(1, width, 11, 5, 5, bias=False)
        self.pre_bn0 = nn.BatchNorm1d(width)
        self.pre_block1 = TFgramBlock(width, width)
        self.pre_block2 = TFgramBlock(width, channels)
        self.pre_block3 = TFgramBlock(channels, channels)
        _init_tfgram(self)

    def forward(self, wave: Tensor) -> Tensor:  # [B, L] -> [B, C, T]
        x = F.relu(self.pre_bn0(self.pre_conv0(wave.unsqueeze(1))))
        x = F.max_pool1d(self.pre_block1(x), kernel_size=4)
        x = F.adaptive_max_pool1d(self.pre_block2(x), 2 * self.frames)
        return F.adaptive_max_pool1d(self.pre_block3(x), self.frames)


class FusionFrontend(nn.Module):
    """Stacks log-Mel and learned waveform maps as channels, in the order of ``FUSIONS[name]``.

    ``features`` (log-Mel) is fixed and cached by the engine; ``forward`` receives it (possibly
    mixed) beside the (equally mixed) waveform. ``options`` were checked by the registry
    against the schema of :func:`frontend_options`; ``traits`` name the stacked maps.
    """

    def __init__(self, name: str, options: dict[str, Any], audio: AudioSpec) -> None:
        super().__init__()
        self.name = name
        self.channels = FUSIONS[name]
        self.traits = frozenset(TRAITS[c] for c in self.channels)
        hop, n_mels = options["hop_length"], options["n_mels"]
        if options["win_length"] > options["n_fft"]:
            raise AsdbenchError(f"frontend.win_length ({options['win_length']}) must not exceed "
                                f"frontend.n_fft ({options['n_fft']})")
        frames = num_frames(audio.num_samples, hop)
        self.logmel = LogMel(audio, **{k: options[k] for k in LOGMEL_OPTIONS})
        self.tgram = self.tfgram = None
        if "tgram" in self.channels:
            win, layers = options["tgram_win_length"], options["tgram_layers"]
            tgram_frames = conv_out_length(audio.num_samples, win, hop, win // 2)
            if tgram_frames != frames:
                raise AsdbenchError(
                    f"frontend.tgram_win_length={win} gives {tgram_frames} Tgram frames but the "
                    f"log-Mel has {frames}; use an even window")
            self.tgram = TgramNet(n_mels, win, hop, frames, layers)
        if "tfgram" in self.channels:
            self.tfgram = TFgramNet(n_mels, frames, options["tfgram_width"])
        self.out_shape = (len(self.channels), n_mels, frames)
        # the default floor stays out of the key: features cached before the option existed
        # are still found
        self.feature_key = "logmel:" + ",".join(
            [f"sr={audio.sample_rate}", f"samples={audio.num_samples}"]
            + [f"{k}={options[k]}" for k in LOGMEL_OPTIONS
               if k != "log_floor" or options[k] != "clamp"])

    @torch.no_grad()
    def features(self, wave: Tensor) -> Tensor:
        """Log-Mel ``[B, n_mels, T]`` of waveforms ``[B, L]``."""
        return self.logmel(wave)

    def forward(self, wave: Tensor, feats: Tensor) -> Tensor:
        maps: dict[str, Tensor] = {"mel": feats}
        if self.tgram is not None:
            maps["tgram"] = self.tgram(wave)
        if self.tfgram is not None:
            maps["tfgram"] = self.tfgram(wave)
        if "tagram" in self.channels:
            maps["tagram"] = temporal_attention(feats)
        return torch.stack([maps[c] for c in self.channels], dim=1)


def make_frontend_factory(name: str):
    def factory(options: dict[str, Any], audio: AudioSpec) -> FusionFrontend:
        return FusionFrontend(name, options, audio)

    factory.__name__ = f"{name}_frontend"
    return factory


# The factories the plugin registers by name (``"asdbench_osscl.frontends:tfstgram_frontend"``).
logmel_frontend = make_frontend_factory("logmel")
stgram_frontend = make_frontend_factory("stgram")
tfstgram_frontend = make_frontend_factory("tfstgram")
tastgram_frontend = make_frontend_factory("tastgram")
