"""Option schemas of the DCASE-baselines plugin (light: no torch, for ``asdbench plugins``)."""

from __future__ import annotations

from asdbench.sdk import Option

# How the classes are split among networks: the organisers train one per machine type.
GROUPINGS = ("type", "class", "one")
_MODELS = Option("type", choices=GROUPINGS,
                 help="one network per machine type (the organisers'), per class (type/ID), "
                      "or one for every class")

AE_OPTIONS: dict[str, Option] = {
    "frames": Option(5, minimum=1, help="consecutive frames concatenated into one input vector"),
    "units": Option(128, minimum=1, help="width of each hidden Dense layer"),
    "depth": Option(4, minimum=1, help="Dense+BN+ReLU layers on each side of the bottleneck"),
    "bottleneck": Option(8, minimum=1, help="width of the bottleneck layer"),
    "bn_momentum": Option(0.01, above=0, maximum=1,
                          help="BatchNorm running-statistics momentum, torch's convention "
                               "(Keras' 0.99 is 0.01); larger for runs of a few hundred steps"),
    "models": _MODELS,
}
IDNN_OPTIONS: dict[str, Option] = {
    "frames": Option(5, minimum=3, help="frames of one input window (odd): the centre one is "
                                        "predicted from the others"),
    "units": Option(64, minimum=1, help="width of the first encoder layer; each further layer "
                                        "halves it (64-32-16), the decoder mirrors it"),
    "depth": Option(3, minimum=1, help="Linear+ReLU layers of the encoder (and the decoder)"),
    "models": _MODELS,
}
# The 2021-2025 baselines: the same network, Keras' (2021, 2022) or torch's (2023-2025)
# initialisation, and the 2023-2025 code's two scores (``--score MSE|MAHALA``).
DCASE_AE_OPTIONS: dict[str, Option] = {
    **AE_OPTIONS,
    "score": Option("mse", choices=("mse", "mahalanobis"),
                    help="anomaly score: mean squared reconstruction error, or the selective "
                         "Mahalanobis score (error covariances of the source and the target "
                         "domain fitted after training; the smaller distance)"),
    "init": Option("torch", choices=("keras", "torch"),
                   help="weight initialisation: keras (glorot-uniform, the 2020-2022 Keras "
                        "baselines) or torch (nn.Linear's, the 2023-2025 PyTorch baseline)"),
}
