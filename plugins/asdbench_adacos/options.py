"""The option schemas of the AdaCos-family methods (one owner: the hooks and the methods read
them from here). Light on purpose: no torch, so ``asdbench plugins`` lists them cheaply.

Defaults and their sources: see NOTES.md.
"""

from __future__ import annotations

from asdbench.sdk import Option

_ADAPTIVE = Option(True, help="update the scale s from every training batch (AdaCos's dynamic "
                              "scale); false: keep the fixed initial scale (ASDKit's configs)")
_MIXUP = Option(1.0, minimum=0, help="mixup: lambda ~ Beta(alpha, alpha) per batch (1: uniform, "
                                     "as the author's code); 0: no mixup")

ADACOS_OPTIONS: dict[str, Option] = {
    "adaptive": _ADAPTIVE,
    "trainable": Option(True, help="learn the class centres (AdaCos paper); false: fixed "
                                   "random centres (ASDKit's default)"),
    "mixup_alpha": _MIXUP,
}
SUBCLUSTER_OPTIONS: dict[str, Option] = {
    "n_subclusters": Option(16, minimum=1, help="centres per class (author's later code and "
                                                "ASDKit: 16; 1 is AdaCos with the author's "
                                                "scale update)"),
    "adaptive": _ADAPTIVE,
    "trainable": Option(True, help="learn the centres (the IJCNN 2021 code); false: fixed "
                                   "random centres (the author's later systems)"),
    "mixup_alpha": _MIXUP,
}
ADAPROJ_OPTIONS: dict[str, Option] = {
    "subspace_dim": Option(16, minimum=1, help="dimension d of each class's subspace (the "
                                               "author's code: 16; ASDKit: 32), below the "
                                               "embedding size"),
    "adaptive": _ADAPTIVE,
    "trainable": Option(False, help="learn the subspace bases; false: fixed random bases "
                                    "(the author's code and ASDKit)"),
    "mixup_alpha": _MIXUP,
}
