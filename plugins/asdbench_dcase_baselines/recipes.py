"""The baselines' training recipes as ``recipe = "authors"`` presets (:mod:`asdbench.recipes`).

Source: the organisers' ``baseline.yaml`` and ``00_train.py`` (see NOTES.md).
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
    "train.ema": False, "train.ema_warmup": False, "train.live_weight_decay": 0.0,
    "train.bn_recalibrate": 0, "train.val_fraction": 0.1, "train.select": "last",
    "train.amp": "fp32",  # Keras float32 (2020-2022), torch without autocast (2023-2025)
    # 512 feature vectors per step: a 10 s clip gives 309 (313 frames - 5 + 1)
    "train.batch_size": 2,
}
AUTHORS = {**BASELINE_TRAINING, **BASELINE_LOGMEL}
# 2021 and 2022 (y-kawagu/dcase2021_task2_baseline_ae, Kota-Dohi/dcase2022_task2_baseline_ae,
# baseline.yaml and keras_model.py): the 2020 recipe unchanged (Keras Adam lr 1e-3, 100
# epochs, batch 512 vectors, shuffle, validation_split 0.1), Keras initialisation; the
# decision threshold one gamma fit per machine type on the per-file MSE of all its sections'
# training files (00_train.py: section_name="*", score_distr_<type>.pkl).
KERAS_EDITION = {**AUTHORS, "method.init": "keras", "decision.per": "type"}
# 2023-2025 (nttcslab/dcase2023_task2_baseline_ae, baseline.yaml, dcase2023t2_ae.py): torch
# Adam lr 1e-3, 100 epochs, batch 256 vectors (a 6 s clip gives 184 windows; the engine's
# smallest batch, 2 clips, gives 368), shuffle, validation_split 0.1, the model of the last
# epoch, torch initialisation.
TORCH_EDITION = {**AUTHORS, "method.init": "torch"}
EDITIONS = (2021, 2022, 2023, 2024, 2025, 2026)

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "dcase2020-ae": {"authors": dict(AUTHORS)},
    "dcase-ae": {f"dcase{year}": dict(KERAS_EDITION if year <= 2022 else TORCH_EDITION)
                 for year in EDITIONS},
    # assumed: the IDNN paper's training settings (and its mel count) were not available to
    # check; only its abstract and introduction were (NOTES.md)
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
NOT_EXPRESSIBLE["dcase-ae"] = [
    "batches of 512 (2021, 2022) or 256 (2023-2025) feature vectors shuffled across all clips "
    "of a type (here: the vectors of 2 clips)",
    "one model per machine type trained on that type's development sections (dev mode) or "
    "on its additional training sections (eval mode), two models per type in 2021 and 2022; "
    "here one per type over every section the run trains on (use data.eval_root=none for "
    "the development-mode model)",
    "validation = the last 10 % of the vectors (Keras, 2021/2022) or a random 10 % of the "
    "vectors (sklearn train_test_split, 2023-2025), not a random 10 % of the clips",
    "log floor 20/power*log10(max(mel, 2.2e-16)) instead of 10*log10(max(mel, 1e-10))",
    "Adam epsilon 1e-7 (Keras, 2021/2022) instead of torch's 1e-8",
    "decision threshold 2023-2025: one gamma fit per machine type on per-batch losses of the "
    "last epoch's training and validation batches (Mahalanobis: per-batch scores of the "
    "covariance pass); here the engine's gamma fit per section on per-clip training scores "
    "(2021/2022 are expressed: decision.per = \"type\", per-clip training MSE, pooled over "
    "every section the run trains on, as the model is)",
    "Mahalanobis covariances: each batch's rows centred on that batch's mean (the shuffled "
    "batches cannot be replayed; here on the domain's mean over all training clips)",
]


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
