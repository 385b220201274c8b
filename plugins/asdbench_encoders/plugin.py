"""Hook implementations of the pretrained-encoder plugin (entry point ``encoders``).

Light: the hooks import the option schemas and the weights catalogue only; each factory is a
``"module:function"`` string imported on the first ``create`` (so no torch at listing time).
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_encoders import options

# A frozen or adapted encoder must keep its pretrained weights: the engine's live weight
# decay (which shrinks every float32 tensor of the model) is off unless the user sets it.
TRAIN_DEFAULTS = {"train.live_weight_decay": 0.0}
# The frontends of this plugin that read a checkpoint (``frontend.checkpoint``).
ENCODERS = ("beats", "eat")


@hookimpl
def asdbench_frontends() -> list[Component]:
    return [
        Component("beats", "asdbench_encoders.frontends:beats_frontend",
                  dict(options.BEATS_OPTIONS),
                  "BEATs (Chen et al. 2023): Kaldi fbank, patches, relative-position "
                  "transformer; tokens [1, 768, N]; mode frozen|lora|full",
                  train_defaults=dict(TRAIN_DEFAULTS)),
        Component("eat", "asdbench_encoders.frontends:eat_frontend",
                  dict(options.EAT_OPTIONS),
                  "EAT (Chen et al. 2024): Kaldi fbank, patches, CLS token, sin-cos "
                  "positions, post-LN ViT; tokens [1, 768, N]; mode frozen|lora|full",
                  train_defaults=dict(TRAIN_DEFAULTS)),
    ]


@hookimpl
def asdbench_backbones() -> list[Component]:
    return [Component("pool", "asdbench_encoders.pooling:pool_factory",
                      dict(options.POOL_OPTIONS),
                      "pools tokens [C, D, N] over N (mean, attentive statistics, flatten), "
                      "optional linear projection")]


@hookimpl
def asdbench_check_run(config: dict) -> None:
    """A run of an encoder frontend stops in one line, before any audio is decoded, when its
    checkpoint is missing, unreadable or of another architecture."""
    name, checkpoint = config.get("frontend"), config.get("frontend.checkpoint")
    if name in ENCODERS and checkpoint:
        from asdbench_encoders import checkpoints

        checkpoints.check_checkpoint(checkpoints.SPECS[name], str(checkpoint))


@hookimpl
def asdbench_reference_results() -> list[dict]:
    from asdbench_encoders import reference

    return reference.reference_results()


@hookimpl
def asdbench_commands(cli) -> None:
    from asdbench_encoders.commands import command

    cli.add_command(command)
