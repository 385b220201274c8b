"""Hook implementations of the MobileNetV2 plugin (entry point ``mobilenetv2``).

Light: the hooks import only the option schemas and the recipes (no torch); each factory is a
``"module:function"`` string the registry imports on the first ``create``.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_mobilenetv2 import options
from asdbench_mobilenetv2.recipes import recipes_of


@hookimpl
def asdbench_backbones() -> list[Component]:
    return [Component("mobilenetv2", "asdbench_mobilenetv2.backbone:mobilenetv2_factory",
                      dict(options.MOBILENETV2_OPTIONS),
                      "MobileNetV2 (Sandler et al. 2018; inverted residuals, width "
                      "multiplier), pooled last feature map (last_channels) as the embedding")]


@hookimpl
def asdbench_methods() -> list[Component]:
    component = Component("softmax", "asdbench_mobilenetv2.method:softmax_factory",
                          dict(options.SOFTMAX_OPTIONS),
                          "machine-ID classification: linear layer + softmax cross-entropy, no "
                          "margin, no mixup (the DCASE 2021 MobileNetV2 baseline's loss; "
                          "recipe authors = its settings)")
    component.recipes = recipes_of(component.name)
    return [component]
