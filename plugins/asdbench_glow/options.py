"""Option schema of method ``glow-aff`` (light: no torch, for ``asdbench plugins``).

Which defaults come from the Glow paper, which from Dohi et al. and which are assumptions:
NOTES.md.
"""

from __future__ import annotations

from asdbench.sdk import Option

# "class": one flow per machine ID, its ID's clips the targets and the other IDs of its type
# the outliers (Dohi et al.); "type": one flow per machine type, plain maximum likelihood.
GROUPINGS = ("class", "type")

GLOW_OPTIONS: dict[str, Option] = {
    "frames": Option(32, minimum=2, help="consecutive log-Mel frames of one flow input (an "
                                         "F x frames image); F and frames must be divisible "
                                         "by 2^levels"),
    "hop": Option(32, minimum=1, help="frames between the starts of two inputs of a clip "
                                      "(= frames: non-overlapping segments)"),
    "levels": Option(3, minimum=1, help="Glow levels (squeeze, steps, split); L"),
    "steps": Option(4, minimum=1, help="flow steps (actnorm, 1x1 conv, affine coupling) per "
                                       "level; K"),
    "hidden": Option(64, minimum=1, help="channels of each coupling network's hidden layers"),
    "init_std": Option(1e-3, minimum=0,
                       help="std of the coupling networks' last convolution at the start "
                            "(0: Glow's zero initialisation)"),
    "margin": Option(0.2, minimum=0,
                     help="required gap between an outlier clip's and a target clip's "
                          "negative log-likelihood (nats per dimension)"),
    "outlier_weight": Option(1.0, minimum=0,
                             help="weight of the outlier (other IDs of the type) term; 0: "
                                  "plain maximum likelihood of the target ID"),
    "models": Option("class", choices=GROUPINGS,
                     help="one flow per machine ID with the type's other IDs as outliers (the "
                          "authors'), or one per machine type without outliers"),
}
