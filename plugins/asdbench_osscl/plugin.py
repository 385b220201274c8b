"""Hook implementations of the OS-SCL plugin (entry point ``osscl``).

The hooks import only the light option schemas (:mod:`asdbench_osscl.options`) and name each
factory as a ``"module:function"`` string, which the registry imports on the first ``create``:
loading the plugin and ``asdbench plugins`` import no torch.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_osscl import options

_FRONTEND_DESCRIPTIONS = {
    "logmel": "log-Mel (n_fft 2048, hop 512, 128 mels, dB), 1 channel",
    "stgram": "STgram: (log-Mel, Tgram) (STgram-MFN)",
    "tfstgram": "TFSTgram: (log-Mel, Tgram, TFgram) (OS-SCL)",
    "tastgram": "TASTgram: (Tgram, log-Mel, TAgram) (Noisy-ArcMix)",
}


@hookimpl
def asdbench_frontends() -> list[Component]:
    return [Component(name, f"asdbench_osscl.frontends:{name}_frontend",
                      options.frontend_options(name), description)
            for name, description in _FRONTEND_DESCRIPTIONS.items()]


@hookimpl
def asdbench_backbones() -> list[Component]:
    return [Component("mobilefacenet", "asdbench_osscl.backbones:mobilefacenet_factory",
                      dict(options.MOBILEFACENET_OPTIONS),
                      "MobileFaceNet (DCASE2022 bottlenecks), global depthwise conv from in_shape")]


@hookimpl
def asdbench_methods() -> list[Component]:
    from asdbench_osscl.recipes import recipes_of

    arc, mix = options.ARCFACE_OPTIONS, options.MIXUP_OPTIONS
    methods = "asdbench_osscl.methods"
    components = [
        Component("arcface", f"{methods}:arcface_factory", dict(arc),
                  "ArcFace + cross-entropy, no mixup (STgram-MFN: m 0.7, s 30)"),
        Component("arcmix", f"{methods}:arcmix_factory", {**arc, **mix},
                  "ArcMix: mixup, margin on each label's own logits"),
        Component("noisy-arcmix", f"{methods}:noisy_arcmix_factory", {**arc, **mix},
                  "Noisy-ArcMix (NAMix): mixup, margin on y_a only"),
        Component("os-scl", f"{methods}:osscl_factory", dict(options.OSSCL_OPTIONS),
                  "OS-SCL: mixup + FPH + noise-supervised SupCon (tau 0.02) + NAMix; "
                  "margin/activation 'auto' = 0.7/LeakyReLU on logmel, 0.4/ReLU otherwise"),
        Component("supcon", f"{methods}:supcon_factory", dict(options.SUPCON_OPTIONS),
                  "ablation: OS-SCL without mixup noise (FPH + SupCon + ArcFace)"),
    ]
    for component in components:
        component.recipes = recipes_of(component.name)
    return components


@hookimpl
def asdbench_reference_results() -> list[dict]:
    from asdbench_osscl import reference

    return reference.reference_results()


@hookimpl
def asdbench_tables() -> list:
    from asdbench_osscl import tables

    return tables.table_kinds()
