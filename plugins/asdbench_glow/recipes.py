"""The ``recipe = "authors"`` preset of ``glow-aff`` (:mod:`asdbench.recipes`).

Dohi et al.'s training settings could not be read (only the abstract and introduction of arXiv
2103.08801 are in the sources searched; see NOTES.md): the preset is
the Glow paper's optimiser (Adam, lr 1e-3) on the DCASE 2020 organisers' log-Mel and recipe
shape from the same lab (Hitachi: 100 epochs, constant rate, no EMA, last epoch kept), each
value an assumption until checked against the paper. :data:`NOT_EXPRESSIBLE` lists what the
engine's settings cannot express.
"""

from __future__ import annotations

from typing import Any

# the DCASE 2020 baseline's librosa log-Mel (n_fft 1024, hop 512, 128 mels, power 2, Slaney)
ORGANISERS_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.n_mels": 128, "frontend.power": 2.0, "frontend.pad_mode": "reflect",
    "frontend.norm": "slaney", "frontend.mel_scale": "slaney",
}
TRAINING: dict[str, Any] = {
    "train.epochs": 100, "train.lr": 1e-3, "train.batch_size": 32,
    "train.weight_decay": 0.0,  # AdamW without decay: Adam, as Glow
    "train.eta_min_factor": 1.0,  # a cosine from lr to lr: constant
    "train.ema": False, "train.ema_warmup": False, "train.live_weight_decay": 0.0,
    "train.bn_recalibrate": 0, "train.val_fraction": 0.1, "train.select": "last",
    "train.amp": "fp32",  # the flows run in float32 anyway; the frontend too
}
AUTHORS: dict[str, Any] = {**TRAINING, **ORGANISERS_LOGMEL}

NOT_EXPRESSIBLE: list[str] = [
    "one training run per machine ID: here every ID's flow is in one model and one optimiser "
    "(a flow absent from a batch, as target and as outlier, skips that step)",
    "batches of segments drawn across the clips of an ID: here batches of clips, each "
    "bringing all its segments",
    "Glow's learning-rate warm-up and Adamax/Adam epsilon of the official code",
]


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for another method)."""
    return {"authors": dict(AUTHORS)} if method == "glow-aff" else {}
