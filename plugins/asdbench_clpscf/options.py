"""The option schema of method ``clp-scf`` (light: no torch, so ``asdbench plugins`` lists it
without importing the model). Defaults: the authors' code (see NOTES.md)."""

from __future__ import annotations

from asdbench.sdk import Option

CLPSCF_OPTIONS: dict[str, Option] = {
    "pretrain_epochs": Option(
        0.25, type=float, minimum=0,
        help="stage 1 (contrastive pre-training) epochs: below 1 a share of train.epochs, "
             "else a whole number of epochs; 0 skips it; the rest of train.epochs fine-tunes "
             "(authors: 100 of 100 + 300)"),
    "pretrain_lr_scale": Option(
        5.0, above=0, help="stage 1 learning rate = train.lr x this (authors: 5e-4 vs 1e-4)"),
    "temperature": Option(0.1, above=0, help="contrastive temperature t (authors: 0.1)"),
    "self_in_denominator": Option(
        True, help="true: the anchor's own similarity is in the softmax denominator (authors' "
                   "code); false: left out, as in Khosla et al.'s SupCon"),
    "projection_dim": Option(
        128, minimum=1, help="width of the projection head's layers (authors: 128, the "
                             "embedding size); its first layer is kept for fine-tuning"),
    "margin": Option(1.0, minimum=0, help="ArcFace margin m of fine-tuning (authors: 1.0)"),
    "scale": Option(30.0, above=0, help="ArcFace scale s (authors: 30)"),
    "eval_margin": Option(True, help="score on logits with the margin on the clip's own class "
                                     "(the authors' test); false: plain s*cos"),
}
