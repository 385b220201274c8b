"""The ``softmax`` method's preset ``recipe = "authors"`` (:mod:`asdbench.recipes`): the
DCASE 2021 Task 2 organisers' MobileNetV2 baseline (``y-kawagu/dcase2021_task2_baseline_mobile_
net_v2``: ``baseline.yaml``, ``keras_model.py``, ``00_train.py``; see NOTES.md).

Giri et al.'s own training settings could not be read (their paper is not in the sources this
plugin was written from), so the preset is the organisers' code, the one public recipe of a
MobileNetV2 machine-ID classifier of this family. What the engine cannot express is in
:data:`NOT_EXPRESSIBLE`.
"""

from __future__ import annotations

from typing import Any

# librosa.feature.melspectrogram as the baseline calls it (n_fft 1024, hop 512, 128 mels,
# power 2): centred STFT with reflect padding, Slaney mel scale and normalisation
BASELINE_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.n_mels": 128, "frontend.power": 2.0, "frontend.pad_mode": "reflect",
    "frontend.norm": "slaney", "frontend.mel_scale": "slaney",
}
# keras.applications.MobileNetV2(alpha=0.5, weights=None) on the log-Mel copied to 3 channels
BASELINE_BACKBONE: dict[str, Any] = {"backbone.width": 0.5, "backbone.repeat_channels": 3}
# Keras Adam at lr 1e-5, no schedule, decay or weight averaging; 20 epochs of batch 32;
# validation_split 0.1; the model after the last epoch is saved.
BASELINE_TRAINING: dict[str, Any] = {
    "train.epochs": 20, "train.batch_size": 32, "train.lr": 1e-5, "train.weight_decay": 0.0,
    "train.eta_min_factor": 1.0,  # a cosine from lr to lr: constant
    "train.ema": False, "train.ema_warmup": False, "train.live_weight_decay": 0.0,
    "train.bn_recalibrate": 0, "train.val_fraction": 0.1, "train.select": "last",
    "train.amp": "fp32",  # Keras float32: no mixed-precision policy in the baseline
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "softmax": {"authors": {**BASELINE_TRAINING, **BASELINE_LOGMEL, **BASELINE_BACKBONE}},
}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "softmax": [
        "examples are 64-frame windows (128 mels x 64 frames, frames as the image height), "
        "every 8th window of a clip in training and every window at test; here the network "
        "sees the whole clip (128 x 313 for 10 s)",
        "score = mean over a clip's windows of log(max(1 - p, eps) - log(max(p, eps))) with p "
        "the softmax probability of the clip's section (the code's parenthesisation; "
        "log((1 - p) / p) was meant); here -log p of the whole clip (scorer ce), which ranks "
        "clips as any decreasing function of one p does",
        "one model per machine type, classifying that type's sections; here one model for "
        "every class of the run",
        "batches of 32 windows shuffled across a type's clips, not 32 clips",
        "validation = the last 10 % of the windows (Keras validation_split)",
        "Keras BatchNorm (epsilon 1e-3, momentum 0.999), asymmetric 'correct_pad' zero padding "
        "before stride-2 convs, glorot-uniform init; Adam epsilon 1e-7",
        "log floor 20/power*log10(max(mel, float eps)) instead of 10*log10(max(mel, 1e-10))",
    ],
}


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
