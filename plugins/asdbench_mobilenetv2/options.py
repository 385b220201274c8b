"""Option schemas of the MobileNetV2 plugin (light: no torch, for ``asdbench plugins``)."""

from __future__ import annotations

from asdbench.sdk import Option

MOBILENETV2_OPTIONS: dict[str, Option] = {
    "width": Option(1.0, above=0, help="width multiplier alpha: every layer's channels x alpha, "
                                       "rounded to a multiple of 8 (the last 1x1 conv is not "
                                       "narrowed below last_channels); the DCASE 2021 "
                                       "organisers' baseline uses 0.5"),
    "last_channels": Option(1280, minimum=1, help="channels of the last 1x1 conv = the "
                                                  "embedding size (its pooled feature map)"),
    "repeat_channels": Option(1, minimum=1, help="copies of the input channels stacked "
                                                 "before the stem (3: the organisers' Keras "
                                                 "model, a 1-channel log-Mel copied 3 times)"),
}

SOFTMAX_OPTIONS: dict[str, Option] = {}
