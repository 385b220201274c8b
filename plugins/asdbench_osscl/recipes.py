"""The authors' training recipes of the shipped methods, as ``recipe = "authors"`` presets
(:mod:`asdbench.recipes`); ``common`` is the engine's shared (OS-SCL paper) recipe.

Sources (REFERENCE.md, "Baselines' own recipes"): STgram-MFN, liuyoude/STgram-MFN (the
``arcface`` method with the ``stgram`` frontend); Noisy-ArcMix / TASTgram,
soonhyeon/Noisy-ArcMix; OS-SCL, huangswt/OS-SCL. Only what the engine's settings can express
is in a preset; :data:`NOT_EXPRESSIBLE` lists the rest of each recipe, which needs new engine
settings before the preset is the authors' recipe in full.
"""

from __future__ import annotations

from typing import Any

# STgram-MFN's log-Mel is torchaudio's default MelSpectrogram with n_fft = win = 1024
STGRAM_MFN_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.pad_mode": "reflect", "frontend.norm": "none", "frontend.mel_scale": "htk",
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    # Adam without weight decay (AdamW with weight decay 0 is the same update), batch 128,
    # no decay of the live weights (that belongs to the OS-SCL EMA recipe)
    "arcface": {"authors": {"train.weight_decay": 0.0, "train.batch_size": 128,
                            "train.live_weight_decay": 0.0, **STGRAM_MFN_LOGMEL}},
    "noisy-arcmix": {"authors": {"train.live_weight_decay": 0.0}},
    # the OS-SCL authors train in fp32 (the engine's default is bf16 autocast on CUDA)
    "os-scl": {"authors": {"train.amp": False}},
}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "arcface": ["cosine schedule starting at epoch 20", "no EMA (the live model is evaluated)",
                "epoch selection by test AUC + pAUC (uses test labels: not copied on purpose)"],
    "noisy-arcmix": ["no EMA, the live model validated and saved", "fp16 autocast",
                     "log-Mel floor 10*log10(mel + 2.2e-16)"],
    "os-scl": [],
}


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of method ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
