"""The CLP-SCF plugin: its two stages, its losses against direct computations, the contract
checks, parameter counts, and a tiny end-to-end run on the synthetic set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from asdbench_clpscf.losses import arcface_logits, id_contrastive_loss
from asdbench_clpscf.methods import FINETUNE_TRAINS, PRETRAIN_TRAINS, clpscf_factory
from asdbench_clpscf.options import CLPSCF_OPTIONS

from asdbench.config import resolve
from asdbench.modelinfo import describe_model
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.service import evaluate_run
from asdbench.sdk import AsdbenchError, FrontendInfo, Stage, option_defaults
from asdbench.testing import (
    EASY_RUN,
    check_options,
    check_training_step,
    installed_registry,
    plugin_combinations,
)

REGISTRY = installed_registry()
COMPONENT = REGISTRY.get("method", "clp-scf")
DEFAULTS = option_defaults(CLPSCF_OPTIONS)
INFO = FrontendInfo((2, 128, 32))


def build(num_classes: int = 3, dim: int = 4, **over):
    return clpscf_factory({**DEFAULTS, **over}, num_classes, dim, INFO)


# --- the losses against direct computations --------------------------------------------------

Z = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8],
              [-1.0, 0.5, 0.5]])
LABELS = np.array([0, 0, 1, 1, 2])  # clip 4 has no positive


def contrastive_by_hand(z: np.ndarray, labels: np.ndarray, t: float, with_self: bool) -> float:
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    losses = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        others = [j for j in range(len(z)) if with_self or j != i]
        log_denominator = np.log(sum(np.exp(z[i] @ z[j] / t) for j in others))
        losses.append(-np.mean([z[i] @ z[p] / t - log_denominator for p in positives]))
    return float(np.mean(losses))


@pytest.mark.parametrize("with_self", [True, False], ids=["authors", "khosla"])
@pytest.mark.parametrize("t", [0.1, 0.5])
def test_contrastive_loss_is_the_direct_computation(with_self, t):
    # unnormalised inputs: the loss works on cosine similarities
    z = torch.tensor(Z * np.array([[2.0], [1.0], [3.0], [0.5], [1.0]]), dtype=torch.float32)
    got = id_contrastive_loss(z, torch.tensor(LABELS), t, with_self)
    assert float(got) == pytest.approx(contrastive_by_hand(Z, LABELS, t, with_self), rel=1e-5)


def test_contrastive_loss_differs_with_the_anchor_in_the_denominator_and_needs_positives():
    z, y = torch.tensor(Z, dtype=torch.float32), torch.tensor(LABELS)
    assert float(id_contrastive_loss(z, y, 0.1, True)) > float(id_contrastive_loss(z, y, 0.1,
                                                                                   False))
    lone = torch.tensor(Z, dtype=torch.float32, requires_grad=True)
    loss = id_contrastive_loss(lone, torch.arange(5), 0.1)  # five IDs, no positive pair
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(lone.grad, torch.zeros_like(lone))
    with pytest.raises(ValueError, match="4 labels for 5 clips"):
        id_contrastive_loss(z, torch.arange(4))


def test_arcface_logits_are_the_direct_computation_with_its_fallback():
    m, s = 1.0, 30.0
    x = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -0.1]])
    w = np.array([[1.0, 1.0], [2.0, 0.0]])
    labels = [0, 1, 1]  # clip 2 is nearly opposite class 1: cos < cos(pi - m), the fallback
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        w / np.linalg.norm(w, axis=1, keepdims=True)).T
    expected = s * cos
    for i, k in enumerate(labels):
        c = cos[i, k]
        if c > math.cos(math.pi - m):
            expected[i, k] = s * math.cos(math.acos(c) + m)
        else:
            expected[i, k] = s * (c - m * math.sin(math.pi - m))
    assert cos[2, 1] < math.cos(math.pi - m)
    got = arcface_logits(torch.tensor(x, dtype=torch.float32),
                         torch.tensor(w, dtype=torch.float32), torch.tensor(labels), m, s)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-4)
    plain = arcface_logits(torch.tensor(x, dtype=torch.float32),
                           torch.tensor(w, dtype=torch.float32), None, m, s)
    np.testing.assert_allclose(plain.numpy(), s * cos, rtol=1e-5, atol=1e-5)


# --- the method: stages, losses, score -----------------------------------------------------


def test_two_stages_with_their_losses_and_parameters():
    method = build()
    pretrain, finetune = method.stages
    assert pretrain == Stage("pretrain", 0.25, "pretrain_loss", PRETRAIN_TRAINS, 5.0)
    assert finetune == Stage("finetune", None, "loss", FINETUNE_TRAINS, 1.0)
    assert build(pretrain_epochs=100).stages[0].epochs == 100
    assert build(pretrain_epochs=0).stages[0].epochs == 0
    with pytest.raises(AsdbenchError, match="pretrain_epochs must be a share in"):
        build(pretrain_epochs=2.5)
    z, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    method.train()
    loss, logits = method.pretrain_loss(z, y, y, 1.0)
    assert logits is None
    projected = method.project_out(method.project_in(z))
    assert loss.item() == pytest.approx(id_contrastive_loss(projected, y, 0.1).item())
    loss, logits = method.loss(z, y, y, 1.0)
    h = method.embed(z)
    assert torch.allclose(logits, arcface_logits(h, method.weight, y, 1.0, 30.0))
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())


def test_score_logits_carry_the_margin_on_the_own_class_unless_told_not_to():
    e, y = torch.randn(3, 128), torch.tensor([0, 1, 2])
    method = build(dim=4)
    assert torch.allclose(method.logits(e, y), arcface_logits(e, method.weight, y, 1.0, 30.0))
    plain = build(dim=4, eval_margin=False)
    plain.weight = method.weight
    assert torch.allclose(plain.logits(e, y), arcface_logits(e, method.weight, None, 1.0, 30.0))


# --- contracts, sizes ----------------------------------------------------------------------


MINE = plugin_combinations(REGISTRY, "clpscf")


@pytest.mark.parametrize("combo", [c for c in MINE if c.backbone == "mobilefacenet"]
                         + [c for c in MINE if c.frontend == "logmel" and
                            c.backbone != "mobilefacenet"], ids=str)
def test_contract_training_step_of_each_stage(combo):
    check_training_step(REGISTRY, combo)


def test_option_defaults_pass_their_schema():
    check_options(COMPONENT)


def test_parameters_and_flops_on_the_authors_input():
    """STgram + MobileFaceNet (shared with STgram-MFN) + the head: Linear 128x128 (no bias) +
    BN (2 x 128) kept for fine-tuning, two more such layers for pre-training only, and the
    ArcFace centres, 41 x 128."""
    def described(method: str) -> dict:
        cfg = resolve({"method": method, "frontend": "stgram", "backbone": "mobilefacenet",
                       "dataset": "dcase2020", "data.clip_seconds": 10.0}, REGISTRY)
        return describe_model(dict(cfg), REGISTRY)

    mine, stgram_mfn = described("clp-scf"), described("arcface")
    layer = 128 * 128 + 2 * 128
    assert mine["input_shape"] == [2, 128, 313]
    assert mine["params"] == stgram_mfn["params"] + 3 * layer == 1_205_910
    assert mine["flops_per_clip"] >= stgram_mfn["flops_per_clip"]


def test_authors_recipe_holds_their_settings():
    cfg = resolve({"method": "clp-scf", "frontend": "stgram", "recipe": "authors"}, REGISTRY)
    assert (cfg["train.epochs"], cfg["method.pretrain_epochs"]) == (400, 100)
    assert (cfg["train.lr"], cfg["method.pretrain_lr_scale"], cfg["train.batch_size"]) == (
        1e-4, 5.0, 128)
    assert cfg["train.weight_decay"] == 0.0 and cfg["method.temperature"] == 0.1
    assert (cfg["frontend.n_fft"], cfg["frontend.mel_scale"]) == (1024, "htk")


# --- end to end on the synthetic set ---------------------------------------------------------

TINY = {**EASY_RUN, "method": "clp-scf", "method.pretrain_epochs": 3}  # 3 + 5 of 8 epochs
# Measured on EASY_RUN with generator version 2 (2-core CPU; the test passes on version 3,
# the shipped one, too), average AUC: 0.725 (seed 0), 0.727
# (seed 1). On the old tiny setting (16 clips per ID) it was 0.694 / 0.660 / 0.556 by seed.


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clpscf")
    cfg = resolve({**TINY, "data.root": str(root)}, REGISTRY)
    return train_and_evaluate(cfg, root / "results", progress=False)


@pytest.mark.slow
def test_tiny_run_pretrains_then_finetunes_and_reloads_to_the_same_scores(tiny_run):
    metrics, run = tiny_run
    log = run.read_log()
    assert [r["stage"] for r in log] == ["pretrain"] * 3 + ["finetune"] * 5
    assert [math.isnan(r["train_acc"]) for r in log] == [True] * 3 + [False] * 5
    assert 3 <= metrics["best_epoch"] <= 7  # selected from fine-tuning only
    average = metrics["protocols"]["dcase2020"]["average"]
    again = evaluate_run(run.path, {}, device="cpu", progress=False)
    assert again["protocols"]["dcase2020"]["average"]["auc"] == pytest.approx(average["auc"])


@pytest.mark.slow
def test_tiny_run_beats_chance_clearly(tiny_run):
    metrics, _ = tiny_run
    assert metrics["protocols"]["dcase2020"]["average"]["auc"] > 0.65
