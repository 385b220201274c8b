"""The author's training recipes as ``recipe = "authors"`` presets (:mod:`asdbench.recipes`).

Sources: wilkinghoff/sub-cluster-AdaCos ``main.py`` (IJCNN 2021) and wilkinghoff/AdaProj
``main.py`` (DCASE 2024 workshop paper): Keras Adam at its default lr 1e-3, no schedule, no
weight averaging, batch 64, the model after the last epoch kept. The IJCNN code trains 4
"aeons" of 100 epochs on one model (400 epochs); the AdaProj code 10 epochs. ``adacos`` has no
preset: Zhang et al. trained face recognisers, not ASD models.
"""

from __future__ import annotations

from typing import Any

KERAS_ADAM: dict[str, Any] = {
    "train.lr": 1e-3, "train.weight_decay": 0.0, "train.batch_size": 64,
    "train.eta_min_factor": 1.0,  # a cosine from lr to lr: constant
    "train.ema": False, "train.ema_warmup": False, "train.live_weight_decay": 0.0,
    "train.select": "last",
    "train.amp": "fp32",  # Keras float32: no mixed-precision policy in main.py
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "subcluster-adacos": {"authors": {**KERAS_ADAM, "train.epochs": 400}},
    "adaproj": {"authors": {**KERAS_ADAM, "train.epochs": 10}},
}

NOT_EXPRESSIBLE: dict[str, list[str]] = {
    "subcluster-adacos": ["L2 kernel regularisers (1e-5) on the network's layers",
                          "balanced class weights in the loss",
                          "mixup lambda ~ U(0, 1) per clip, partner = the batch reversed",
                          "Adam epsilon 1e-7 (Keras) instead of torch's 1e-8"],
    "adaproj": ["L2 kernel regularisers (1e-5) on the network's layers",
                "mixup lambda ~ U(0, 1) per clip, partner = the batch reversed",
                "Adam epsilon 1e-7 (Keras) instead of torch's 1e-8",
                "an ensemble of 5 trainings"],
}


def recipes_of(method: str) -> dict[str, dict[str, Any]]:
    """The presets of ``method`` (a fresh copy; none for a method without any)."""
    return {name: dict(values) for name, values in RECIPES.get(method, {}).items()}
