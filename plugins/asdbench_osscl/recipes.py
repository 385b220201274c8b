"""The authors' training recipes of the shipped methods, as ``recipe = "authors"`` presets
(:mod:`asdbench.recipes`); ``common`` is the engine's shared (OS-SCL paper) recipe.

Sources, read at the commits named in ``tests/test_recipes.py`` (which checks every value
against its source line): STgram-MFN, liuyoude/STgram-MFN (the ``arcface`` method with the
``stgram`` frontend); Noisy-ArcMix / TASTgram, soonhyeon/Noisy-ArcMix; OS-SCL,
huangswt/OS-SCL. :data:`NOT_EXPRESSIBLE` lists what the engine's settings cannot express.

STgram-MFN's authors keep the checkpoint with the best *test* AUC + pAUC, checked every 10
epochs: that uses test labels, so ``authors`` keeps the last epoch instead, and the separate
recipe ``authors-test-selected`` does what the authors did (its rows are marked and ranked
apart).
"""

from __future__ import annotations

from typing import Any

# STgram-MFN's log-Mel is torchaudio's default MelSpectrogram with n_fft = win = 1024
STGRAM_MFN_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.pad_mode": "reflect", "frontend.norm": "none", "frontend.mel_scale": "htk",
}
# torchaudio MelSpectrogram(n_fft 2048, hop 512, 128 mels, constant padding, Slaney) of the
# OS-SCL and Noisy-ArcMix code
SLANEY_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 2048, "frontend.win_length": 2048, "frontend.hop_length": 512,
    "frontend.n_mels": 128, "frontend.power": 2.0, "frontend.pad_mode": "constant",
    "frontend.norm": "slaney", "frontend.mel_scale": "slaney",
}
# what no weight averaging means in the engine's terms (no warm-up, no live decay either)
NO_EMA: dict[str, Any] = {"train.ema": False, "train.ema_warmup": False,
                          "train.live_weight_decay": 0.0, "train.bn_recalibrate": 0}

STGRAM_MFN: dict[str, Any] = {
    # range(0, epochs + 1) with epochs = 300: 301 epochs; CosineAnnealingLR(T_max = 300,
    # eta_min = 0.1 lr) stepped after each epoch from epoch 20 on
    "train.epochs": 301, "train.sched_t_max": 300, "train.sched_start_epoch": 20,
    "train.eta_min_factor": 0.1,
    # Adam without weight decay (AdamW with weight decay 0 is the same update)
    "train.lr": 1e-4, "train.weight_decay": 0.0, "train.batch_size": 128,
    # every training clip trained on; fp32; the last epoch (the authors' test selection is
    # the separate recipe below)
    "train.val_fraction": 0.0, "train.select": "last", "train.amp": "fp32", **NO_EMA,
    "method.margin": 0.7, "method.scale": 30.0, **STGRAM_MFN_LOGMEL,
}
# what the authors did: the checkpoint with the best dev-test AUC + pAUC, checked every 10
# epochs from epoch 0 (ties: the later one); rows of this recipe are marked "selected on test"
STGRAM_MFN_TEST_SELECTED: dict[str, Any] = {**STGRAM_MFN, "train.select": "test",
                                            "train.select_every": 10}
NOISY_ARCMIX: dict[str, Any] = {
    "train.epochs": 300, "train.lr": 1e-4, "train.weight_decay": 0.01,  # torch AdamW default
    "train.batch_size": 64, "train.eta_min_factor": 0.1,
    # a random 5 % held out; the live model with the lowest validation CE is saved
    "train.val_fraction": 0.05, "train.select": "val_ce", **NO_EMA,
    # fp16 autocast of the training steps, no gradient scaler; validation in fp32
    "train.amp": "fp16",
    "method.margin": 0.7, "method.mixup_alpha": 0.5,
    **SLANEY_LOGMEL, "frontend.log_floor": "add",  # 10*log10(mel + 2.2e-16)
}
OSSCL: dict[str, Any] = {
    "train.epochs": 300, "train.lr": 1e-4, "train.weight_decay": 0.01, "train.batch_size": 64,
    "train.eta_min_factor": 0.1, "train.val_fraction": 0.05, "train.select": "val_ce",
    # WeightEMA: alpha 0.9999, live weights x (1 - 0.02 * 1e-4) per step, the EMA saved
    "train.ema": True, "train.ema_decay": 0.9999, "train.ema_warmup": False,
    "train.live_weight_decay": 2e-6, "train.bn_recalibrate": 0,
    "train.amp": "fp32", "method.mixup_alpha": 0.5, **SLANEY_LOGMEL,
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "arcface": {"authors": STGRAM_MFN, "authors-test-selected": STGRAM_MFN_TEST_SELECTED},
    "noisy-arcmix": {"authors": NOISY_ARCMIX},
    "os-scl": {"authors": OSSCL},
}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "arcface": [],
    "noisy-arcmix": [],
    "os-scl": [],
}


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of method ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
