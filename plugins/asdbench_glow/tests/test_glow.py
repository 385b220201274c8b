"""The Glow plugin: the flow's invertibility and log-likelihood against direct computations,
the self-supervised loss on hand-made likelihoods, the per-ID routing, the model's size, and a
tiny run on the synthetic set."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from asdbench_glow.flow import ActNorm, AffineCoupling, Glow, InvConv1x1, squeeze2d, unsqueeze2d
from asdbench_glow.methods import glow_aff_factory, self_supervised_loss
from asdbench_glow.options import GLOW_OPTIONS

from asdbench.config import resolve
from asdbench.model import build_model
from asdbench.modelinfo import describe_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.service import evaluate_run
from asdbench.sdk import AudioSpec, FrontendInfo, IncompatibleComponents
from asdbench.testing import (
    check_options,
    check_training_step,
    installed_registry,
    plugin_combinations,
    plugin_components,
)

REGISTRY = installed_registry()
MINE = plugin_components(REGISTRY, "glow_aff")
COMBOS = plugin_combinations(REGISTRY, "glow_aff")


def defaults(**over) -> dict:
    return {**{k: v.default for k, v in GLOW_OPTIONS.items()}, **over}


# --- contracts -------------------------------------------------------------------------------


# log-Mel in the quick loop; the other frontends only add input channels (slow loop)
@pytest.mark.parametrize("combo", [
    pytest.param(c, marks=() if c.frontend == "logmel" else pytest.mark.slow, id=str(c))
    for c in COMBOS])
def test_contract_training_step(combo):
    check_training_step(REGISTRY, combo)


def test_glow_aff_combines_only_with_the_frames_backbone():
    assert {c.backbone for c in COMBOS} == {"frames"}
    assert {"logmel", "stgram"} <= {c.frontend for c in COMBOS}
    cfg = {"frontend": "logmel", "backbone": "mobilefacenet", "method": "glow-aff"}
    with pytest.raises(IncompatibleComponents, match="use backbone 'frames'"):
        build_model(cfg, REGISTRY, AudioSpec(clip_seconds=1.0), 3)


@pytest.mark.parametrize("component", MINE, ids=lambda c: f"{c.kind}-{c.name}")
def test_option_defaults_pass_their_schema(component):
    check_options(component)


# --- the flow: invertibility, log-dets, log-likelihood of a known transform ------------------


def initialised(flow: Glow, x: torch.Tensor) -> Glow:
    """``flow`` after its data-dependent actnorm initialisation on ``x`` (a training pass)."""
    flow.train()
    flow.log_prob(x)
    return flow.eval()


def test_squeeze_moves_each_2x2_block_into_channels_and_back():
    x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float64).reshape(2, 1, 4, 6)
    s = squeeze2d(x)
    assert s.shape == (2, 4, 2, 3)
    for di in range(2):
        for dj in range(2):
            torch.testing.assert_close(s[:, 2 * di + dj], x[:, 0, di::2, dj::2])
    torch.testing.assert_close(unsqueeze2d(s), x)


def test_forward_then_inverse_is_the_identity():
    torch.manual_seed(0)
    flow = Glow((2, 8, 8), levels=3, steps=2, hidden=16, init_std=0.3).double()
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64) * 3 + 1
    flow = initialised(flow, x)
    latents, _ = flow(x)
    assert [tuple(z.shape[1:]) for z in latents] == [(4, 4, 4), (8, 2, 2), (32, 1, 1)]
    assert (flow.inverse(latents) - x).abs().max() < 1e-5
    for layer in (ActNorm(4), InvConv1x1(4), AffineCoupling(4, 8, 0.5)):
        layer.double()
        h = torch.randn(3, 4, 2, 5, dtype=torch.float64)
        y, _ = layer(h)
        assert (layer.inverse(y) - h).abs().max() < 1e-5, type(layer).__name__


def test_log_likelihood_is_the_latent_density_plus_the_jacobian_log_det():
    """Change of variables checked directly: with zero priors the latents are standard normal,
    so log p(x) = sum log N(z; 0, 1) + log|det dz/dx|, the Jacobian taken by autograd."""
    torch.manual_seed(1)
    flow = Glow((1, 4, 4), levels=2, steps=2, hidden=8, init_std=0.5).double()
    x = torch.randn(4, 1, 4, 4, dtype=torch.float64)
    flow = initialised(flow, x * 2)  # actnorm not the identity on x
    for i in range(len(x)):
        def latents(v):
            return torch.cat([z.flatten() for z in flow(v.reshape(1, 1, 4, 4))[0]])

        jac = torch.autograd.functional.jacobian(latents, x[i].flatten())
        z = latents(x[i].flatten()).detach().numpy()
        expected = -0.5 * np.sum(z ** 2 + math.log(2 * math.pi))
        expected += np.linalg.slogdet(jac.numpy())[1]
        logp = float(flow.log_prob(x[i:i + 1]).detach())
        assert math.isclose(logp, expected, rel_tol=1e-9)


def squeeze_numpy(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.zeros((n, 4 * c, h // 2, w // 2))
    for ch in range(c):
        for di in range(2):
            for dj in range(2):
                out[:, 4 * ch + 2 * di + dj] = x[:, ch, di::2, dj::2]
    return out


def test_log_likelihood_of_a_known_transform_computed_by_hand():
    """Zero-initialised couplings and priors, identity 1x1 convolutions and set actnorms: each
    step is y = (x + b)·exp(s), then the second half of the channels times sigmoid(2)."""
    flow = Glow((1, 4, 8), levels=2, steps=2, hidden=8, init_std=0.0).double().eval()
    rng = np.random.default_rng(0)
    params = []
    with torch.no_grad():
        for steps in flow.levels:
            for step in steps:
                act, conv, _ = step.layers
                b, s = rng.normal(size=act.bias.shape[1]), rng.normal(size=act.bias.shape[1]) / 4
                act.bias.copy_(torch.tensor(b)[None, :, None, None])
                act.logs.copy_(torch.tensor(s)[None, :, None, None])
                act.initialized.fill_(True)
                conv.weight.copy_(torch.eye(conv.weight.shape[0]))
                params.append((b, s))
    x = rng.normal(size=(3, 1, 4, 8))
    logp = np.zeros(3)
    h, k = x, 0
    for level in range(2):
        h = squeeze_numpy(h)
        c = h.shape[1]
        for _ in range(2):
            b, s = params[k]
            k += 1
            h = (h + b[None, :, None, None]) * np.exp(s)[None, :, None, None]
            h[:, c // 2:] *= 1 / (1 + np.exp(-2.0))
            pixels = h.shape[2] * h.shape[3]
            logp += pixels * s.sum() + (c - c // 2) * pixels * np.log(1 / (1 + np.exp(-2.0)))
        if level == 0:  # split: the second half under N(0, 1), the first half goes on
            logp += (-0.5 * (h[:, c // 2:] ** 2 + np.log(2 * np.pi))).reshape(3, -1).sum(1)
            h = h[:, :c // 2]
    logp += (-0.5 * (h ** 2 + np.log(2 * np.pi))).reshape(3, -1).sum(1)
    np.testing.assert_allclose(flow.log_prob(torch.tensor(x)).detach().numpy(), logp,
                               rtol=1e-12)


def test_one_by_one_convolution_log_det_is_pixels_times_slogdet():
    torch.manual_seed(2)
    conv = InvConv1x1(6).double()
    with torch.no_grad():
        conv.weight.add_(0.3 * torch.randn(6, 6, dtype=torch.float64))  # not a rotation any more
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64)
    y, logdet = conv(x)
    expected = 15 * np.linalg.slogdet(conv.weight.detach().numpy())[1]
    np.testing.assert_allclose(logdet.detach().numpy(), [expected, expected], rtol=1e-12)
    mixed = np.einsum("oc,nchw->nohw", conv.weight.detach().numpy(), x.numpy())
    np.testing.assert_allclose(y.detach().numpy(), mixed, rtol=1e-12)


def test_actnorm_initialises_on_the_first_training_batch_only():
    act = ActNorm(2).train()
    x = torch.tensor([[[[1.0, 3.0]], [[10.0, 30.0]]], [[[5.0, 7.0]], [[50.0, 70.0]]]])
    y, logdet = act(x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((0, 2, 3), unbiased=False), torch.ones(2))
    stds = x.std((0, 2, 3), unbiased=False)  # 2.236..., 22.36...
    torch.testing.assert_close(logdet, -2 * torch.log(stds + 1e-6).sum().expand(2))
    bias = act.bias.detach().clone()
    act(x * 5)  # initialised: a second batch changes nothing
    torch.testing.assert_close(act.bias.detach(), bias)
    fresh = ActNorm(2).eval()
    fresh(x)  # validation never initialises
    assert not bool(fresh.initialized) and float(fresh.logs.detach().abs().sum()) == 0


# --- the self-supervised loss and the per-ID routing ------------------------------------------


def test_self_supervised_loss_on_hand_made_likelihoods():
    u_t, u_o = torch.tensor([1.0, 2.0]), torch.tensor([1.5, 3.5])
    # gaps u_o - u_t: [[0.5, 2.5], [-0.5, 1.5]]; max(0, 1 - gap): [[0.5, 0], [1.5, 0]]
    loss = self_supervised_loss(u_t, u_o, margin=1.0, weight=0.5)
    assert math.isclose(float(loss), 1.5 + 0.5 * 0.5)
    assert math.isclose(float(self_supervised_loss(u_t, u_o, 1.0, 0.0)), 1.5)
    assert math.isclose(float(self_supervised_loss(u_t, u_o[:0], 1.0, 0.5)), 1.5)
    # outliers already a margin less likely than every target: the plain likelihood term
    assert math.isclose(float(self_supervised_loss(u_t, torch.tensor([9.0]), 1.0, 2.0)), 1.5)


CLASSES = ("fan/00", "fan/02", "pump/00")
BINS, FRAMES = 8, 12  # 8 mel bins, 12 frames: segments of 4 frames start at 0, 4, 8


def small_method(**over):
    options = defaults(**{"frames": 4, "hop": 4, "levels": 2, "steps": 1, "hidden": 8, **over})
    info = FrontendInfo((1, BINS, FRAMES))
    return glow_aff_factory(options, 3, BINS * FRAMES, info, CLASSES)


def test_one_flow_per_id_with_the_other_ids_of_its_type_as_outliers(monkeypatch):
    method = small_method(margin=1.0, outlier_weight=0.5)
    assert len(method.flows) == 3
    assert method.type_of_group.tolist() == [0, 0, 1]  # fan, fan, pump
    # a stand-in NLL: the clip's mean value plus 10 x its flow's index
    index = {id(f): i for i, f in enumerate(method.flows)}
    monkeypatch.setattr(method, "clip_nll",
                        lambda flow, seg: seg.flatten(1).mean(1) + 10 * index[id(flow)])
    values = torch.tensor([1.0, 2.0, 4.0, 8.0])  # clips of fan/00, fan/02, fan/00, pump/00
    z = values[:, None].expand(4, BINS * FRAMES).contiguous()
    loss, logits = method.loss(z, torch.tensor([0, 1, 0, 2]), torch.tensor([0, 1, 0, 2]), 1.0)
    assert logits is None
    fan00 = self_supervised_loss(torch.tensor([1.0, 4.0]), torch.tensor([2.0]), 1.0, 0.5)
    fan02 = self_supervised_loss(torch.tensor([12.0]), torch.tensor([11.0, 14.0]), 1.0, 0.5)
    pump = torch.tensor(28.0)  # no other pump ID: plain likelihood
    torch.testing.assert_close(loss, (2 * fan00 + fan02 + pump) / 4)


def test_score_is_the_mean_nll_per_dimension_over_the_segments_of_its_ids_flow():
    torch.manual_seed(3)
    method = small_method(init_std=0.2)
    z = torch.randn(2, BINS * FRAMES) * 2
    method.train()
    method.loss(z, torch.tensor([0, 2]), torch.tensor([0, 2]), 1.0)  # actnorm initialisation
    method.eval()
    e = method.embed(z)
    x = z.reshape(2, 1, BINS, FRAMES)
    for g, flow in enumerate(method.flows):
        for b in range(2):
            segs = torch.stack([x[b, :, :, s:s + 4] for s in (0, 4, 8)])
            expected = (-flow.log_prob(segs) / (BINS * 4)).mean()
            torch.testing.assert_close(e[b, g], expected)
    torch.testing.assert_close(method.logits(e, None), e)  # one flow per class, in order


def test_per_type_flows_and_one_flow_without_class_names():
    assert len(small_method(models="type").flows) == 2
    options = defaults(frames=4, hop=4, levels=2, steps=1, hidden=8)
    info = FrontendInfo((1, BINS, FRAMES))
    assert len(glow_aff_factory(options, 3, BINS * FRAMES, info).flows) == 1


def test_sizes_the_flow_cannot_take_are_one_line_errors():
    with pytest.raises(AsdbenchError, match="divisible by 2\\^method.levels = 8"):
        small_method(levels=3)
    with pytest.raises(AsdbenchError, match="fewer than method.frames = 16"):
        small_method(frames=16)


# --- size and cost ----------------------------------------------------------------------------


def glow_weights(c: int, levels: int, steps: int, hidden: int) -> tuple[int, int]:
    """(parameters, multiply-adds per pixel summed over the convolutions) of one Glow, from
    its layer list: per level squeeze to 4c, K x (actnorm 2c, 1x1 conv c^2, coupling conv
    3x3 c/2 -> H, conv 1x1 H -> H, conv 3x3 H -> c), then split with a prior conv 3x3."""
    params, per_level = 0, []
    for level in range(levels):
        c *= 4
        convs = c * c + 9 * (c // 2) * hidden + hidden * hidden + 9 * hidden * c
        params += steps * (2 * c + convs + 2 * hidden + c)
        macs = steps * convs
        if level < levels - 1:
            params += 9 * (c // 2) * c + c
            macs += 9 * (c // 2) * c
            c //= 2
        per_level.append(macs)
    return params, per_level


def test_describe_gives_the_parameters_and_flops_of_one_id_flow():
    cfg = resolve({"method": "glow-aff", "backbone": "frames", "frontend": "logmel",
                   "recipe": "authors", "data.clip_seconds": 10.0}, REGISTRY)
    info = describe_model(dict(cfg), REGISTRY)
    assert info["input_shape"] == [1, 128, 313]  # hop 512, 10 s at 16 kHz
    params, per_level = glow_weights(1, 3, 4, 64)
    assert info["params"] == params == 149_508
    # 9 segments of 32 frames; level l runs at (128 / 2^l) x (32 / 2^l) pixels
    pixels = [64 * 16, 32 * 8, 16 * 4]
    macs = sum(m * p for m, p in zip(per_level, pixels, strict=True))
    assert info["flops_per_clip"] == 2 * 9 * macs


def test_authors_recipe_and_own_score_defaults():
    cfg = resolve({"method": "glow-aff", "backbone": "frames", "recipe": "authors"}, REGISTRY)
    assert (cfg["train.lr"], cfg["train.epochs"], cfg["train.weight_decay"]) == (1e-3, 100, 0.0)
    assert (cfg["frontend.n_fft"], cfg["frontend.hop_length"], cfg["frontend.n_mels"]) == (
        1024, 512, 128)
    assert cfg["scorer"] == "method" and cfg["train.select"] == "last"


# --- end to end on the synthetic set -----------------------------------------------------------

# 32 mel bins and segments of 16 frames: a tiny run's flows learn in 8 epochs (with 128 x 32
# segments they have not, 0.33-0.49 AUC); measured 0.76-0.85 AUC over 3 seeds and lr 1e-3/1e-2
TINY = {"dataset": "synthetic", "data.types": "fan,pump", "data.ids_per_type": 2,
        "data.train_per_id": 16, "data.test_normal_per_id": 6, "data.test_anomaly_per_id": 6,
        "data.clip_seconds": 1.0, "data.difficulty": 0.3, "frontend": "logmel",
        "backbone": "frames", "method": "glow-aff", "recipe": "authors",
        "frontend.n_mels": 32, "method.frames": 16, "method.hop": 16, "method.levels": 2,
        "method.steps": 2, "method.hidden": 32, "train.epochs": 8, "train.lr": 1e-2,
        "train.batch_size": 16, "train.device": "cpu"}


@pytest.fixture(autouse=True)
def _one_thread():
    """The flows' convolutions are tiny: one thread runs them faster than two, and on a
    loaded 2-core machine about 20x faster (no threads spinning against each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = resolve(TINY, get_registry())
        return train_and_evaluate(cfg, tmp_path_factory.mktemp("results"), progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_tiny_run_reloads_to_the_same_scores(tiny_run):
    metrics, run = tiny_run
    assert metrics["best_epoch"] == TINY["train.epochs"] - 1  # select = last
    log = [line for line in (run.path / "train_log.jsonl").read_text().splitlines() if line]
    losses = [json.loads(line)["train_loss"] for line in log]
    assert len(losses) == TINY["train.epochs"] and losses[-1] < losses[0]
    average = metrics["protocols"]["dcase2020"]["average"]
    # the run folder rebuilds the per-ID flows from its classes (actnorm state included)
    again = evaluate_run(run.path, {}, device="cpu", progress=False)
    redone = again["protocols"]["dcase2020"]["average"]
    assert math.isclose(redone["auc"], average["auc"]), (redone, average)


@pytest.mark.slow
def test_tiny_run_beats_chance(tiny_run):
    metrics, _ = tiny_run
    assert metrics["protocols"]["dcase2020"]["average"]["auc"] > 0.65
