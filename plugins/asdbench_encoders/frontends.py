"""Pretrained encoders as asdbench frontends, in three training modes.

A frontend holds the whole encoder. Its ``features`` (computed once per clip and cached by
the engine) are the encoder's own fbank in modes ``lora`` and ``full``, and the encoder's
output tokens in mode ``frozen``: a frozen encoder then runs once per clip and dataset, and
every later run (another scorer, another head) reads the cache. ``forward`` returns the
tokens as ``[B, 1, D, N]`` (D: the encoder width, N: tokens), which a pooling backbone
(``pool``) or any other backbone turns into an embedding.

What trains is decided here: in ``frozen`` no encoder weight has ``requires_grad``; in
``lora`` only the adapters (peft) do; in ``full`` all do, each parameter carrying
``lr_scale`` (the engine gives it ``train.lr`` times that). The weights that never train are
left out of the frontend's state dict (they come from the checkpoint when a run is loaded),
so a run folder holds only what training changed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import Tensor, nn

from asdbench.sdk import AsdbenchError, AudioSpec
from asdbench_encoders import checkpoints

# Clips each frozen encoder has run on, by feature key: the tests count extractions with it.
EXTRACTED: Counter[str] = Counter()


def select_tokens(x: Tensor, grid: tuple[int, int], how: str, extra: int = 0) -> Tensor:
    """``[B, extra + N, D]`` tokens (``extra`` leading ones such as a CLS token, then patch
    tokens time-major on a ``grid`` of (time, frequency) patches) -> the tokens passed on,
    ``[B, N', D]``."""
    if how == "cls":
        return x[:, :1]
    x = x[:, extra:]
    if how == "all":
        return x
    if how == "mean":
        return x.mean(1, keepdim=True)
    b, _, d = x.shape
    x = x.reshape(b, grid[0], grid[1], d)
    return x.mean(2) if how == "time" else x.mean(1)


def token_count(grid: tuple[int, int], how: str) -> int:
    return {"all": grid[0] * grid[1], "time": grid[0], "freq": grid[1], "mean": 1,
            "cls": 1}[how]


class EncoderFrontend(nn.Module):
    """An encoder (``spec``: :mod:`asdbench_encoders.beats` or ``.eat`` as a
    :class:`checkpoints.EncoderSpec`) as a frontend; ``options`` checked by the registry."""

    def __init__(self, spec: checkpoints.EncoderSpec, options: dict[str, Any],
                 audio: AudioSpec) -> None:
        super().__init__()
        if audio.sample_rate != spec.sample_rate:
            raise AsdbenchError(f"frontend {spec.name} needs {spec.sample_rate} Hz audio, the "
                                f"dataset gives {audio.sample_rate} Hz (set data.sample_rate)")
        self.name, self.spec = spec.name, spec
        self.mode, self.how = options["mode"], options["tokens"]
        self.layer = None if int(options["layer"]) < 0 else int(options["layer"])
        self.encoder, source = checkpoints.build_encoder(spec, options["checkpoint"],
                                                         options["arch"])
        depth = self.encoder.depth
        if self.layer is not None and self.layer >= depth:
            raise AsdbenchError(f"frontend.layer={self.layer}: the encoder has {depth} layers "
                                f"(0..{depth - 1}, or -1 for the last)")
        self.extra = int(getattr(self.encoder, "extra_tokens", 0))
        if self.how == "cls" and not self.extra:
            raise AsdbenchError(f"frontend.tokens=cls: {spec.name} has no CLS token (use all, "
                                "time, freq or mean)")
        self.encoder.trim(self.layer)
        self.grid = self.encoder.grid(audio.num_samples)
        if min(self.grid) < 1:
            raise AsdbenchError(f"frontend {spec.name}: clips of {audio.clip_seconds} s are too "
                                "short for one patch")
        self.out_shape = (1, self.encoder.embedding_dim, token_count(self.grid, self.how))
        self.frozen_keys: set[str] = set()
        self._configure(options)
        # keys naming a tensor another key already holds (BEATs' shared bias table): saved once
        self.alias_keys = checkpoints.aliases(self.encoder, "encoder.")
        what = (f"tokens:{source}:layer={self.layer}:tokens={self.how}" if self.mode == "frozen"
                else "fbank")
        self.feature_key = (f"{spec.name}:{what}:sr={audio.sample_rate}:"
                            f"samples={audio.num_samples}:v={spec.version}")
        self.register_state_dict_post_hook(EncoderFrontend._drop_frozen)
        self.register_load_state_dict_pre_hook(EncoderFrontend._keep_frozen)

    def _configure(self, options: dict[str, Any]) -> None:
        encoder = self.encoder
        if self.mode == "full":
            for p in encoder.parameters():
                p.lr_scale = float(options["encoder_lr_scale"])
            return
        encoder.requires_grad_(False)
        if self.mode == "lora":
            targets = [t.strip() for t in str(options["lora_targets"]).split(",") if t.strip()]
            checkpoints.add_lora(encoder, targets, int(options["lora_rank"]),
                                 float(options["lora_alpha"]), float(options["lora_dropout"]))
        else:
            encoder.eval()
        self.frozen_keys = {f"encoder.{k}" for k, v in encoder.state_dict(keep_vars=True).items()
                            if not (isinstance(v, nn.Parameter) and v.requires_grad)}

    # --- what a run saves: only what trains ----------------------------------------------

    def _drop_frozen(self, state: dict, prefix: str, local_metadata: Any) -> None:
        for key in (*self.frozen_keys, *self.alias_keys):
            state.pop(prefix + key, None)

    def _keep_frozen(self, state: dict, prefix: str, *args: Any) -> None:
        own = self.state_dict_full()
        for alias, first in self.alias_keys.items():
            if prefix + first in state:
                state.setdefault(prefix + alias, state[prefix + first])
        for key in self.frozen_keys:
            state.setdefault(prefix + key, own[key])

    def state_dict_full(self) -> dict[str, Tensor]:
        """Every tensor, the frozen encoder's included (the hooks leave them out)."""
        return {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}

    def train(self, mode: bool = True) -> EncoderFrontend:
        super().train(mode)
        if self.mode == "frozen":  # a frozen encoder always runs as in inference
            self.encoder.eval()
        return self

    # --- the frontend contract ------------------------------------------------------------

    def _tokens(self, fbank: Tensor) -> Tensor:
        x = self.encoder.tokens(fbank, self.layer)
        return select_tokens(x, self.grid, self.how, self.extra).transpose(1, 2)  # [B, D, N']

    @torch.no_grad()
    def features(self, wave: Tensor) -> Tensor:
        """``frozen``: the encoder's tokens ``[B, D, N']``; else its fbank ``[B, F, T]``."""
        fbank = self.encoder.preprocess(wave)
        if self.mode != "frozen":
            return fbank.transpose(1, 2)
        EXTRACTED[self.feature_key] += len(wave)
        was = self.encoder.training
        self.encoder.eval()
        try:
            return self._tokens(fbank.to(next(self.encoder.parameters()).device))
        finally:
            self.encoder.train(was)

    def forward(self, wave: Tensor, feats: Tensor) -> Tensor:
        if self.mode == "frozen":
            return feats.unsqueeze(1)
        return self._tokens(feats.transpose(1, 2)).unsqueeze(1)


def beats_frontend(options: dict[str, Any], audio: AudioSpec) -> EncoderFrontend:
    return EncoderFrontend(checkpoints.SPECS["beats"], options, audio)


def eat_frontend(options: dict[str, Any], audio: AudioSpec) -> EncoderFrontend:
    frontend = EncoderFrontend(checkpoints.SPECS["eat"], options, audio)
    frontend.encoder.set_drop_path(float(options["drop_path"]))
    return frontend


