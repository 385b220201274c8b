"""Inference passes of a run: validation loss, BatchNorm statistics, embeddings and scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from asdbench.config import component_options
from asdbench.data import Clip
from asdbench.metrics.compute import compute_metrics
from asdbench.metrics.sets import DEV, clip_set
from asdbench.model import ASDModel
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.device import autocast
from asdbench.run.tensors import Batched, Split, Splits, iter_batches
from asdbench.scoring import ScoringInputs

EMBED_BATCH = 64  # clips per batch when embedding a split


@torch.no_grad()
def validation_loss(model: ASDModel, split: Split, batch_size: int, device: torch.device,
                    amp: Any) -> tuple[float, float, float]:
    """Mean CE and accuracy of ``model`` on unmixed clips, averaged over batches (as the
    authors), and the accuracy without the ArcFace margin on the clip's own class: the one
    that says whether held-out clips are classified (with the margin it can read 0 %).
    For a method with its own score (``own_score``): :func:`own_score_loss`."""
    model.eval()
    if model.own_score:
        return own_score_loss(model, split, batch_size, device, amp)
    losses, accs, plain = [], [], []
    margin = getattr(model.method, "eval_margin", False)
    for wave, feats, y in iter_batches(split, batch_size, device):
        with autocast(device, amp):
            e, logits = model.infer(wave, feats, y)
            bare = model.method.logits(e, None) if margin else logits
        logits = logits.float()
        losses.append(F.cross_entropy(logits, y))
        accs.append((logits.argmax(1) == y).float().mean())
        plain.append((bare.float().argmax(1) == y).float().mean())
    if not losses:
        return float("nan"), float("nan"), float("nan")
    return tuple(torch.stack(v).mean().item() for v in (losses, accs, plain))


@torch.no_grad()
def own_score_loss(model: ASDModel, split: Split, batch_size: int, device: torch.device,
                   amp: Any) -> tuple[float, float, float]:
    """The validation number of a method with its own score: the mean score of each clip at
    its own class (an autoencoder's reconstruction error, i.e. its loss), averaged over
    batches; no accuracies (NaN)."""
    scores = []
    for wave, feats, y in iter_batches(split, batch_size, device):
        with autocast(device, amp):
            _, per_class = model.infer(wave, feats, y)
        scores.append(per_class.float().gather(1, y[:, None]).mean())
    loss = torch.stack(scores).mean().item() if scores else float("nan")
    return loss, float("nan"), float("nan")


@torch.no_grad()
def recalibrate_batchnorm(model: ASDModel, split: Split, batches: int, batch_size: int,
                          device: torch.device, amp: Any) -> ASDModel:
    """Recompute BatchNorm statistics of ``model`` on its first ``batches`` training batches.

    Not in the paper (for short runs): BN running statistics follow the weights with momentum
    0.1, and the unnormalised log-Mel (dB) input makes the first ones far off, which a
    300-epoch run forgets but a few-minute run does not.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen
    model.train()
    for wave, feats, _ in iter_batches(split, batch_size, device, limit=batches * batch_size):
        if len(wave) < 2:
            break
        with autocast(device, amp):
            # through the method's embedding head too: its BatchNorms (OS-SCL's FPH) were
            # reset above and are part of what the scorers see
            model.method.embed(model(wave, feats))
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
    return model.eval()


@torch.no_grad()
def embed(model: ASDModel, source: Batched, device: torch.device, amp: Any,
          batch_size: int = EMBED_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The method's embeddings ``[N, E]`` and class logits ``[N, K]`` of every clip of
    ``source`` (float32, on the CPU). Clips of an unknown class (label -1) get class 0's
    logits; their rows are dropped from the metrics."""
    model.eval()
    embs, logits = [], []
    for wave, feats, y in iter_batches(source, batch_size, device):
        with autocast(device, amp):
            e, lg = model.infer(wave, feats, y.clamp(min=0))
        embs.append(e.float().cpu())
        logits.append(lg.float().cpu())
    if not embs:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return torch.cat(embs).numpy(), torch.cat(logits).numpy()


def embed_split(model: ASDModel, split: Split, device: torch.device, amp: Any,
                batch_size: int = EMBED_BATCH) -> ScoringInputs:
    """What a scorer receives for ``split``: embeddings, logits, classes, domains."""
    embeddings, logits = embed(model, split, device, amp, batch_size)
    return ScoringInputs(embeddings=embeddings, logits=logits,
                         class_index=split.labels.cpu().numpy(), domain=split.domains())


@torch.no_grad()
def fit_method(model: ASDModel, split: Split, device: torch.device, amp: Any,
               batch_size: int = EMBED_BATCH) -> bool:
    """Pass the training clips once to a method with ``fit_train`` (statistics it keeps with
    its weights, e.g. error covariances per domain), as ``(z, labels, domains)`` batches in
    eval mode; whether it has one (its model is then saved again)."""
    fit_train = getattr(model.method, "fit_train", None)
    if not callable(fit_train):
        return False
    model.eval()
    domains = split.domains()

    def batches():
        start = 0
        for wave, feats, y in iter_batches(split, batch_size, device):
            with autocast(device, amp):
                z = model(wave, feats)
            yield z.float(), y, domains[start:start + len(y)]
            start += len(y)

    fit_train(batches())
    return True


def fit_scorer(cfg: Mapping[str, Any], registry: Registry,
               train_inputs: ScoringInputs) -> Any:
    """The scorer of ``cfg`` (a run config, or one read back from ``config.json``) fitted on
    ``train_inputs``."""
    scorer = registry.create("scorer", cfg["scorer"], component_options(cfg, "scorer"))
    scorer.fit(train_inputs)
    return scorer


def check_scorer_fits(cfg: Mapping[str, Any], registry: Registry, model: ASDModel) -> None:
    """A scorer declaring ``needs_own_score`` (it reads a method's own anomaly scores) with a
    method that has none is a one-line error before anything is trained."""
    scorer = registry.create("scorer", cfg["scorer"], component_options(cfg, "scorer"))
    if getattr(scorer, "needs_own_score", False) and not model.own_score:
        raise AsdbenchError(f"scorer '{cfg['scorer']}' reads a method's own anomaly score; "
                            f"method '{cfg['method']}' has class logits (use scorer ce, "
                            "or a method with own_score such as dcase2020-ae)")


def score_clips(cfg: Mapping[str, Any], registry: Registry, train_inputs: ScoringInputs,
                test_inputs: ScoringInputs) -> np.ndarray:
    """The scorer of ``cfg`` fitted on ``train_inputs``, applied to ``test_inputs``."""
    scorer = fit_scorer(cfg, registry, train_inputs)
    return np.asarray(scorer.score(test_inputs), dtype=np.float64)


def clip_sets(clips: list[Clip]) -> list[str]:
    """The test set (``dev``/``eval``) of each clip, as its dataset marks it."""
    return [clip_set(c.attributes) for c in clips]


def scores_frame(clips: list[Clip], scores: np.ndarray) -> pd.DataFrame:
    """The ``scores.csv`` table: one row per clip."""
    return pd.DataFrame({
        "file": [c.file_name for c in clips],
        "machine_type": [c.machine_type for c in clips],
        "machine_id": [c.machine_id for c in clips],
        "domain": [c.domain for c in clips],
        "label": [c.label for c in clips],
        "score": scores,
    })


# the protocol STgram-MFN's authors select on: per type the mean over IDs, then over types
TEST_SELECTION_PROTOCOL = "dcase2020"


def test_selection_metric(cfg: Mapping[str, Any], registry: Registry, splits: Splits,
                          device: torch.device) -> Callable[[ASDModel], float] | None:
    """What ``train.select = "test"`` selects on: a model's AUC + pAUC (mean over machine
    types of the mean over IDs, :data:`TEST_SELECTION_PROTOCOL`) on the labelled test clips
    of the development set, scored by the run's scorer fitted on every training clip, as
    STgram-MFN's authors select (trainer.py:63-74). None when the run has no such clips. It
    reads test labels: the run's rows are marked "selected on test"."""
    keep = [i for i, c in enumerate(splits.test.clips)
            if clip_set(c.attributes) == DEV and c.label is not None]
    if not keep:
        return None
    test = splits.test.subset(np.asarray(keep))

    def metric(model: ASDModel) -> float:
        train_inputs = embed_split(model, splits.full, device, cfg["train.amp"])
        scores = score_clips(cfg, registry, train_inputs,
                             embed_split(model, test, device, cfg["train.amp"]))
        got = compute_metrics(scores_frame(test.clips, scores), TEST_SELECTION_PROTOCOL)
        return float(got["average"]["auc"] + got["average"]["pauc"])

    return metric
