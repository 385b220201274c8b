"""The DCASE-baselines plugin: the organisers' 2020 autoencoder and IDNN as frame-level
methods with their own anomaly score, one network per machine type (engine seams: own_score,
class_names, IncompatibleComponents, logits-free losses)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from asdbench_dcase_baselines.methods import dcase2020_ae_factory, idnn_factory
from asdbench_dcase_baselines.options import AE_OPTIONS, IDNN_OPTIONS
from asdbench_dcase_baselines.scorer import OwnScoreScorer
from torch import nn

from asdbench.config import resolve
from asdbench.model import build_model
from asdbench.modelinfo import describe_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.service import evaluate_run
from asdbench.scoring import ScoringInputs
from asdbench.sdk import AudioSpec, FrontendInfo, IncompatibleComponents
from asdbench.testing import (
    EASY_RUN,
    check_options,
    check_scorer,
    check_training_step,
    installed_registry,
    plugin_combinations,
    plugin_components,
)

REGISTRY = installed_registry()
PLUGIN = "dcase_baselines"
METHODS = ("dcase2020-ae", "idnn")
MINE = plugin_components(REGISTRY, PLUGIN)


def defaults(options: dict) -> dict:
    return {k: getattr(v, "default", v) for k, v in options.items()}


# --- contracts -------------------------------------------------------------------------------


# Our 2020 methods, and the OS-SCL plugin's classifiers on our backbone (dcase-ae: the core's
# component matrix, tests/test_component_matrix.py)
@pytest.mark.parametrize("combo", [c for c in plugin_combinations(REGISTRY, PLUGIN, {"osscl"})
                                   if c.method != "dcase-ae"], ids=str)
def test_contract_training_step(combo):
    check_training_step(REGISTRY, combo)


def test_frame_methods_combine_only_with_the_frames_backbone():
    combos = plugin_combinations(REGISTRY, PLUGIN)
    assert {c.backbone for c in combos if c.method in METHODS} == {"frames"}
    # the classifiers run on the frames backbone too (a linear head on the flattened frames)
    assert {"arcface", "os-scl"} <= {c.method for c in combos if c.backbone == "frames"}
    cfg = {"frontend": "logmel", "backbone": "mobilefacenet", "method": "dcase2020-ae"}
    with pytest.raises(IncompatibleComponents, match="use backbone 'frames'"):
        build_model(cfg, REGISTRY, AudioSpec(clip_seconds=1.0), 3)


@pytest.mark.parametrize("component", MINE, ids=lambda c: f"{c.kind}-{c.name}")
def test_option_defaults_pass_their_schema(component):
    check_options(component)


def test_method_scorer_fits_and_scores():
    check_scorer(REGISTRY, "method")


# --- layer sizes, parameters, FLOPs -------------------------------------------------------------


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_ae_layers_and_parameter_count_match_the_organisers_keras_model():
    """keras_model.get_model(640): 4 x Dense(128)+BN, Dense(8)+BN, 4 x Dense(128)+BN,
    Dense(640); Keras' summary counts each BN unit 4 times (2 trainable)."""
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    dense_params = sum(dense(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
    bn_units = sum(widths[1:-1])
    assert dense_params == 265_864 and bn_units == 1032
    trainable, keras_total = dense_params + 2 * bn_units, dense_params + 4 * bn_units
    assert (trainable, keras_total) == (267_928, 269_992)

    cfg = resolve({"method": "dcase2020-ae", "backbone": "frames", "frontend": "logmel",
                   "recipe": "authors", "data.clip_seconds": 10.0}, REGISTRY)
    info = describe_model(dict(cfg), REGISTRY)
    assert info["input_shape"] == [1, 128, 313]  # n_mels 128, hop 512, 10 s at 16 kHz
    assert info["params"] == trainable
    model = build_model(dict(cfg), REGISTRY, AudioSpec(clip_seconds=10.0), 41)
    net = model.method.nets[0]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == list(
        zip(widths[:-1], widths[1:], strict=True))
    bns = [m for m in net if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in bns] == widths[1:-1]
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)  # Keras' BN defaults
    buffers = sum(b.numel() for name, b in net.named_buffers() if "running" in name)
    assert trainable + buffers == keras_total
    # one window of 5 frames per frame position: 309 windows x 2 FLOPs per weight
    assert info["flops_per_clip"] == 2 * 309 * (dense_params - sum(widths[1:]))


def test_idnn_layer_sizes_parameters_and_flops():
    cfg = resolve({"method": "idnn", "backbone": "frames", "frontend": "logmel",
                   "recipe": "authors", "data.clip_seconds": 10.0}, REGISTRY)
    info = describe_model(dict(cfg), REGISTRY)
    widths = [4 * 128, 64, 32, 16, 32, 64, 128]  # 4 context frames in, the centre one out
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    assert info["params"] == weights + sum(widths[1:]) == 46_416
    assert info["flops_per_clip"] == 2 * 309 * weights
    # the mel count is the least supported assumption (NOTES.md): on 64 mels, as one
    # public re-implementation, the same widths give 256-64-32-16-32-64-64
    cfg64 = resolve({**dict(cfg), "frontend.n_mels": 64}, REGISTRY)
    assert describe_model(dict(cfg64), REGISTRY)["params"] == 25_872


def test_authors_recipes_hold_the_organisers_settings():
    cfg = resolve({"method": "dcase2020-ae", "backbone": "frames", "recipe": "authors"},
                  REGISTRY)
    assert (cfg["train.lr"], cfg["train.epochs"], cfg["train.weight_decay"]) == (1e-3, 100, 0.0)
    assert (cfg["frontend.n_fft"], cfg["frontend.hop_length"], cfg["frontend.n_mels"]) == (
        1024, 512, 128)
    assert cfg["train.select"] == "last" and cfg["train.eta_min_factor"] == 1.0
    assert cfg["scorer"] == "method"  # the method's train_defaults suggest its own score
    assert cfg.run_id != resolve({"method": "dcase2020-ae", "backbone": "frames"},
                                 REGISTRY).run_id


# --- loss and score against a direct computation -----------------------------------------------

VALUES, FRAMES_PER_CLIP = 2, 7  # 2 mel bins, 7 frames: windows of 5 start at frames 0, 1, 2
CLASSES = ("fan/00", "fan/02", "pump/00")


class Zero(nn.Module):
    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.n_out = n_out

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.n_out)


def method(factory, options):
    info = FrontendInfo((1, VALUES, FRAMES_PER_CLIP))
    return factory(defaults(options), len(CLASSES), VALUES * FRAMES_PER_CLIP, info, CLASSES)


def clips() -> torch.Tensor:
    """Two clips of [2 bins, 7 frames], flattened as the frames backbone passes them."""
    x = torch.arange(2 * VALUES * FRAMES_PER_CLIP, dtype=torch.float32).reshape(
        2, VALUES, FRAMES_PER_CLIP) / 10
    return x.flatten(1)


def test_ae_reconstruction_error_per_clip_and_type():
    ae = method(dcase2020_ae_factory, AE_OPTIONS).eval()
    assert len(ae.nets) == 2  # fan and pump
    ae.nets[0] = nn.Identity()  # fan reconstructs perfectly
    ae.nets[1] = Zero(5 * VALUES)  # pump reconstructs zeros: error = mean square of a window
    z = clips()
    x = z.reshape(2, VALUES, FRAMES_PER_CLIP)
    # by hand: window t = frames t..t+4 concatenated frame after frame
    win = [[torch.cat([x[b, :, t + k] for k in range(5)]) for t in range(3)] for b in range(2)]
    pump = torch.tensor([np.mean([float((w ** 2).mean()) for w in win[b]]) for b in range(2)],
                        dtype=torch.float32)
    e = ae.embed(z)
    torch.testing.assert_close(e, torch.stack([torch.zeros(2), pump], 1))
    torch.testing.assert_close(ae.logits(e, None), torch.stack([e[:, 0], e[:, 0], e[:, 1]], 1))
    loss, logits = ae.loss(z, torch.tensor([0, 2]), torch.tensor([0, 2]), 1.0)
    assert logits is None
    torch.testing.assert_close(loss, (0 + pump[1]) / 2)  # mean over both clips' windows


def test_idnn_interpolation_error_of_the_centre_frame():
    idnn = method(idnn_factory, IDNN_OPTIONS).eval()
    idnn.nets[0] = Zero(VALUES)
    z = clips()
    x = z.reshape(2, VALUES, FRAMES_PER_CLIP)
    centre = [np.mean([float((x[b, :, t + 2] ** 2).mean()) for t in range(3)]) for b in range(2)]
    torch.testing.assert_close(idnn.embed(z)[:, 0], torch.tensor(centre, dtype=torch.float32))
    context, mid = idnn.split_centre(torch.arange(10.0)[None, None])
    assert mid.tolist() == [[[4.0, 5.0]]]  # frame 2 of 5 (2 values each)
    assert context.tolist() == [[[0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0]]]
    with pytest.raises(AsdbenchError, match="must be odd"):
        method(idnn_factory, {**IDNN_OPTIONS, "frames": 4})


def test_one_network_without_class_names_and_per_class_on_request():
    info = FrontendInfo((1, VALUES, FRAMES_PER_CLIP))
    dim = VALUES * FRAMES_PER_CLIP
    assert len(dcase2020_ae_factory(defaults(AE_OPTIONS), 3, dim, info).nets) == 1
    per_class = {**defaults(AE_OPTIONS), "models": "class"}
    assert len(dcase2020_ae_factory(per_class, 3, dim, info, CLASSES).nets) == 3


def test_method_scorer_reads_the_own_class_and_exports_every_class():
    logits = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    inputs = ScoringInputs(np.zeros((2, 2), np.float32), logits, np.array([2, 0]))
    assert OwnScoreScorer().score(inputs).tolist() == [3.0, 4.0]
    ae = method(dcase2020_ae_factory, AE_OPTIONS).eval()
    e = torch.tensor([[0.5, 1.5], [2.0, 3.0]])
    exported = OwnScoreScorer().to_torch(ae, 3)
    torch.testing.assert_close(exported(e), ae.logits(e, None))


def test_method_scorer_refuses_a_method_with_class_logits(tmp_path):
    cfg = resolve({"method": "arcface", "scorer": "method", "data.clip_seconds": 1.0,
                   "data.types": "fan", "data.ids_per_type": 1, "data.train_per_id": 2,
                   "data.test_normal_per_id": 1, "data.test_anomaly_per_id": 1,
                   "train.device": "cpu"}, get_registry())
    with pytest.raises(AsdbenchError, match="scorer 'method' reads a method's own anomaly"):
        train_and_evaluate(cfg, tmp_path, progress=False)


# --- end to end on the synthetic set -----------------------------------------------------------

# EASY_RUN at the frame level, the organisers' recipe with small batches and a large lr
EASY = {**EASY_RUN, "backbone": "frames", "scorer": "method", "recipe": "authors",
        "train.batch_size": 8, "train.lr": 1e-2, "train.ema_warmup": False,
        "train.bn_recalibrate": 0}
TINY_RUNS = {"dcase2020-ae": {"train.epochs": 30, "method.bn_momentum": 0.1},
             "idnn": {"train.epochs": 6}}
# Measured on EASY_RUN with generator version 2 (2-core CPU; the tests pass on version 3, the
# shipped one, too), average AUC by seed 0 / 1: the
# autoencoder 0.720 / 0.713 (30 epochs; 0.663 / 0.653 after 8), IDNN 0.795 / 0.762. On the old
# tiny setting (16 clips per ID, 6 + 6 test clips) the autoencoder sat at 0.36-0.74 by seed and
# CPU: too few clips to tell chance from detection.


@pytest.fixture(scope="module", params=sorted(TINY_RUNS))
def tiny_run(request, tmp_path_factory):
    name = request.param
    over = TINY_RUNS[name]
    root = tmp_path_factory.mktemp(name)
    cfg = resolve({**EASY, "method": name, **over, "data.root": str(root)}, get_registry())
    metrics, run = train_and_evaluate(cfg, root / "results", progress=False)
    return name, over, metrics, run


@pytest.mark.slow
def test_tiny_run_selects_the_last_epoch_and_reloads_to_the_same_scores(tiny_run):
    name, over, metrics, run = tiny_run
    average = metrics["protocols"]["dcase2020"]["average"]
    assert metrics["best_epoch"] == over["train.epochs"] - 1  # select = last
    log = [line for line in (run.path / "train_log.jsonl").read_text().splitlines() if line]
    assert len(log) == over["train.epochs"] and "NaN" in log[0]  # no accuracy to show
    # the run folder rebuilds the per-type networks from its classes and scores the same
    again = evaluate_run(run.path, {}, device="cpu", progress=False)
    redone = again["protocols"]["dcase2020"]["average"]
    assert math.isclose(redone["auc"], average["auc"]), (redone, average)


@pytest.mark.slow
def test_tiny_run_beats_chance(tiny_run):
    name, _, metrics, _ = tiny_run
    assert metrics["protocols"]["dcase2020"]["average"]["auc"] > 0.65, name
