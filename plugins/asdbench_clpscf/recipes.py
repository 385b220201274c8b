"""CLP-SCF's training recipe as the ``recipe = "authors"`` preset (:mod:`asdbench.recipes`);
source: the authors' ``config.yaml``, ``run.py`` and ``trainer.py`` (NOTES.md). What
the engine's settings cannot express is in :data:`NOT_EXPRESSIBLE`."""

from __future__ import annotations

from typing import Any

# torchaudio's MelSpectrogram defaults with n_fft = win = 1024 (the authors' ViewGenerator)
AUTHORS_LOGMEL: dict[str, Any] = {
    "frontend.n_fft": 1024, "frontend.win_length": 1024, "frontend.hop_length": 512,
    "frontend.n_mels": 128, "frontend.power": 2.0, "frontend.pad_mode": "reflect",
    "frontend.norm": "none", "frontend.mel_scale": "htk",
}
AUTHORS: dict[str, Any] = {
    # 100 pre-training epochs (the checkpoint fine-tuning starts from), then 300 fine-tuning
    "train.epochs": 400, "method.pretrain_epochs": 100,
    # Adam without weight decay in both stages (AdamW with weight decay 0 is that update):
    # 5e-4 for pre-training (lr_scale 5), 1e-4 for fine-tuning; batch 128 in both
    "train.lr": 1e-4, "method.pretrain_lr_scale": 5.0, "train.weight_decay": 0.0,
    "train.batch_size": 128,
    "train.eta_min_factor": 0.0,  # fine-tuning's cosine goes to eta_min = 0
    # no weight averaging: the live model is the one tested; every training clip trained on
    # (run.py: no split), the last epoch kept (the authors' test selection is not copied);
    # fp32 (trainer.py imports autocast and GradScaler but never calls them)
    "train.ema": False, "train.ema_warmup": False, "train.live_weight_decay": 0.0,
    "train.bn_recalibrate": 0, "train.val_fraction": 0.0, "train.select": "last",
    "train.amp": "fp32",
    **AUTHORS_LOGMEL,
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {"clp-scf": {"authors": AUTHORS}}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "clp-scf": [
        "pre-training at a constant learning rate (here: a cosine over the stage)",
        "fine-tuning's CosineAnnealingLR with T_max = batches per epoch, stepped per epoch from "
        "epoch 20 (here: a cosine over the 300 epochs)",
        "fine-tuning from the checkpoint of pre-training epoch 100 of 101",
        "epoch selection by test AUC + pAUC every 2 epochs (uses test labels: not copied)",
        "the unused layers of the authors' model (MobileFaceNet's fc_out, SimCLRv2's "
        "classifier, SimCLRv2_ft's contrain_projector and linear) are not built",
    ],
}


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
