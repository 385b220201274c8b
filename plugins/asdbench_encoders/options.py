"""Option schemas of the encoder plugin's components (light: no torch at import)."""

from __future__ import annotations

from asdbench.sdk import Option

MODES = ("frozen", "lora", "full")
TOKENS = ("all", "time", "freq", "mean", "cls")


def encoder_options(lora_targets: str, tokens: str = "all") -> dict[str, Option]:
    """The options every encoder frontend has; ``lora_targets`` and ``tokens``: its
    defaults."""
    return {
        "checkpoint": Option("", type=str, help="checkpoint file, or a name of `asdbench "
                             "weights list` looked up in $ASDBENCH_WEIGHTS (default: the "
                             "cache's weights/); empty: random weights of size `arch`"),
        "arch": Option("tiny", choices=("tiny", "base"),
                       help="size of the random encoder when no checkpoint is given (tiny: "
                            "tests; base: the published size, untrained)"),
        "mode": Option("frozen", choices=MODES,
                       help="frozen: never trained, outputs computed once and cached; lora: "
                            "low-rank adapters train; full: every encoder weight trains"),
        "layer": Option(-1, type=int, minimum=-1,
                        help="tokens after this transformer layer (0-based); -1: the last"),
        "tokens": Option(tokens, choices=TOKENS,
                         help="tokens passed on: all patches, time (mean over frequency "
                              "patches), freq (mean over time), mean (one token), cls "
                              "(the CLS token, EAT only)"),
        "lora_rank": Option(64, minimum=1, help="LoRA rank r (ASDKit: 64)"),
        "lora_alpha": Option(8.0, above=0, help="LoRA alpha; the update is scaled by "
                                                "alpha / r (peft's default 8, as ASDKit)"),
        "lora_targets": Option(lora_targets, type=str,
                               help="comma-separated module names that get adapters"),
        "lora_dropout": Option(0.0, minimum=0, maximum=1, help="dropout on the LoRA input"),
        "encoder_lr_scale": Option(0.1, above=0, maximum=1,
                                   help="mode full: the encoder's learning rate is "
                                        "train.lr times this (the head's is train.lr)"),
    }


BEATS_OPTIONS = encoder_options("q_proj,v_proj")
EAT_OPTIONS = {
    **encoder_options("qkv"),
    "drop_path": Option(0.0, minimum=0, maximum=1,
                        help="stochastic depth while training, rising from 0 at the first "
                             "block to this at the last (ASDKit: 0.1)"),
}

POOL_OPTIONS: dict[str, Option] = {
    "pooling": Option("mean", choices=("mean", "asp", "flatten"),
                      help="mean over tokens; asp: attentive statistics pooling (ASDKit); "
                           "flatten: every token concatenated"),
    "embedding_dim": Option(0, type=int, minimum=0,
                            help="linear projection to this size (ASDKit: 256); 0: none"),
    "asp_hidden_ratio": Option(16, minimum=1, help="asp: attention width = input / this"),
}
