"""The baselines' training recipes as ``recipe = "authors"`` presets (:mod:`asdbench.recipes`).

Source: the organisers' ``baseline.yaml`` and ``00_train.py`` (see the package docstring).
What the engine's settings cannot express is in :data:`NOT_EXPRESSIBLE`.
"""

from __future__ import annotations

from typing import Any

# librosa.feature.melspectrogram defaults of the baseline: centred STFT with reflect padding,
# Slaney mel scale and normalisation, power 2
BASELINE_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.n_mels": 128, "frontend.power": 2.0, "frontend.pad_mode": "reflect",
    "frontend.norm": "slaney", "frontend.mel_scale": "slaney",
}
# Keras Adam (lr 1e-3) without schedule, decay or weight averaging; 100 epochs; the model of
# the last epoch is kept; 10 % of the training data held out for validation.
BASELINE_TRAINING: dict[str, Any] = {
    "train.epochs": 100, "train.lr": 1e-3, "train.weight_decay": 0.0,
    "train.eta_min_factor": 1.0,  # a cosine from lr to lr: constant
    "train.ema_decay": 1e-6,  # EMA off in effect (the engine needs a decay > 0)
    "train.ema_warmup": False, "train.live_weight_decay": 0.0, "train.bn_recalibrate": 0,
    "train.val_fraction": 0.1, "train.select": "last",
    # 512 feature vectors per step: a 10 s clip gives 309 (313 frames - 5 + 1)
    "train.batch_size": 2,
}
AUTHORS = {**BASELINE_TRAINING, **BASELINE_LOGMEL}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "dcase2020-ae": {"authors": dict(AUTHORS)},
    # assumed: the IDNN paper's training settings were not available to check
    "idnn": {"authors": dict(AUTHORS)},
}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "dcase2020-ae": [
        "batches of 512 feature vectors shuffled across all clips of a type (here: the "
        "vectors of 2 clips, 618 for 10 s clips)",
        "validation = the last 10 % of the vectors (Keras validation_split), not a random "
        "10 % of the clips",
        "Adam epsilon 1e-7 (Keras) instead of torch's 1e-8",
        "log floor 20/power*log10(mel + 2.2e-16) instead of 10*log10(max(mel, 1e-10))",
        "one optimiser over every type's network: a type absent from a batch skips that "
        "step (its Adam state waits), instead of a separate training run per type",
    ],
}
NOT_EXPRESSIBLE["idnn"] = list(NOT_EXPRESSIBLE["dcase2020-ae"])


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
