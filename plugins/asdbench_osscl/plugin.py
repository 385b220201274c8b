"""Hook implementations of the OS-SCL plugin (entry point ``osscl``).

The component modules (torch) are imported inside the hooks, so that loading the plugin
(``asdbench --help``) stays light.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl

_FRONTEND_DESCRIPTIONS = {
    "logmel": "log-Mel (n_fft 2048, hop 512, 128 mels, dB), 1 channel",
    "stgram": "STgram: (log-Mel, Tgram) (STgram-MFN)",
    "tfstgram": "TFSTgram: (log-Mel, Tgram, TFgram) (OS-SCL)",
    "tastgram": "TASTgram: (Tgram, log-Mel, TAgram) (Noisy-ArcMix)",
}


@hookimpl
def asdbench_frontends() -> list[Component]:
    from asdbench_osscl import frontends

    return [Component(name, frontends.make_frontend_factory(name),
                      frontends.frontend_options(name), description)
            for name, description in _FRONTEND_DESCRIPTIONS.items()]


@hookimpl
def asdbench_backbones() -> list[Component]:
    from asdbench_osscl import backbones

    return [Component("mobilefacenet", backbones.mobilefacenet_factory, dict(backbones.OPTIONS),
                      "MobileFaceNet (DCASE2022 bottlenecks), global depthwise conv from in_shape")]


@hookimpl
def asdbench_methods() -> list[Component]:
    from asdbench_osscl import methods

    arc, mix = methods.ARCFACE_OPTIONS, methods.MIXUP_OPTIONS
    return [
        Component("arcface", methods.arcface_factory, dict(arc),
                  "ArcFace + cross-entropy, no mixup (STgram-MFN: m 0.7, s 30)"),
        Component("arcmix", methods.arcmix_factory, {**arc, **mix},
                  "ArcMix: mixup, margin on each label's own logits"),
        Component("noisy-arcmix", methods.noisy_arcmix_factory, {**arc, **mix},
                  "Noisy-ArcMix (NAMix): mixup, margin on y_a only"),
        Component("os-scl", methods.osscl_factory, dict(methods.OSSCL_OPTIONS),
                  "OS-SCL: mixup + FPH + noise-supervised SupCon (tau 0.02) + NAMix; "
                  "margin/activation 'auto' = 0.7/LeakyReLU on logmel, 0.4/ReLU otherwise"),
        Component("supcon", methods.supcon_factory, dict(methods.SUPCON_OPTIONS),
                  "ablation: OS-SCL without mixup noise (FPH + SupCon + ArcFace)"),
    ]


@hookimpl
def asdbench_reference_results() -> list[dict]:
    from asdbench_osscl import reference

    return reference.reference_results()


@hookimpl
def asdbench_tables() -> list:
    from asdbench_osscl import tables

    return tables.table_kinds()
