"""Hook implementations of the DCASE-baselines plugin (entry point ``dcase_baselines``).

Light: the hooks import only the option schemas and the recipes (no torch); each factory is a
``"module:function"`` string the registry imports on the first ``create``.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_dcase_baselines import options
from asdbench_dcase_baselines.recipes import recipes_of

# What a frame-level method suggests unless the user sets it: its own score, and no BatchNorm
# recalibration (it recomputes the statistics of the frontend and backbone only).
OWN_SCORE_DEFAULTS = {"scorer": "method", "train.bn_recalibrate": 0}


@hookimpl
def asdbench_backbones() -> list[Component]:
    return [Component("frames", "asdbench_dcase_baselines.frames:frames_factory", {},
                      "no parameters: the spectrogram frames flattened, for frame-level "
                      "methods (dcase2020-ae, dcase-ae, idnn)")]


@hookimpl
def asdbench_methods() -> list[Component]:
    methods = "asdbench_dcase_baselines.methods"
    components = [
        Component("dcase2020-ae", f"{methods}:dcase2020_ae_factory", dict(options.AE_OPTIONS),
                  "DCASE 2020 baseline: dense autoencoder on 5 concatenated frames, one per "
                  "machine type; score = mean reconstruction error (backbone frames)",
                  train_defaults=dict(OWN_SCORE_DEFAULTS)),
        Component("dcase-ae", "asdbench_dcase_baselines.dcase_ae:dcase_ae_factory",
                  dict(options.DCASE_AE_OPTIONS),
                  "DCASE 2021-2025 baseline: the 2020 autoencoder, one per machine type, "
                  "score mse or selective mahalanobis (method.score); recipes dcase2021-"
                  "dcase2025 (backbone frames)",
                  train_defaults=dict(OWN_SCORE_DEFAULTS)),
        Component("idnn", f"{methods}:idnn_factory", dict(options.IDNN_OPTIONS),
                  "IDNN: centre frame of 5 interpolated from the other 4, one per machine "
                  "type; score = mean interpolation error (backbone frames)",
                  train_defaults=dict(OWN_SCORE_DEFAULTS)),
    ]
    for component in components:
        component.recipes = recipes_of(component.name)
    return components


@hookimpl
def asdbench_scorers() -> list[Component]:
    return [Component("method", "asdbench_dcase_baselines.scorer:make_own_score", {},
                      "the method's own anomaly score (e.g. reconstruction error) of the "
                      "clip's class; for methods with own_score (dcase2020-ae, dcase-ae, idnn)")]
