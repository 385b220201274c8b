"""The OS-SCL objectives against hand-made examples and a literal reading of the paper's equations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from asdbench_osscl import losses, methods

from asdbench.sdk import LOG_MEL, FrontendInfo, option_defaults

S = 30.0


def _unit(angle_deg: float) -> list[float]:
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a)]


def test_arcface_margin_on_hand_made_example():
    # embedding at 60° from class 0 (x axis) and 30° from class 1 (y axis); lengths must not matter
    x = torch.tensor([[3.0 * c for c in _unit(60.0)]])
    weight = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
    m = 0.5
    with_margin = losses.arcface_logits(x, weight, torch.tensor([0]), m, S)
    expected = torch.tensor([[S * math.cos(math.radians(60.0) + m), S * math.cos(math.radians(30.0))]])
    torch.testing.assert_close(with_margin, expected, atol=1e-4, rtol=0)
    # the margin goes on the labelled class only
    on_class1 = losses.arcface_logits(x, weight, torch.tensor([1]), m, S)
    expected1 = torch.tensor([[S * 0.5, S * math.cos(math.radians(30.0) + m)]])
    torch.testing.assert_close(on_class1, expected1, atol=1e-4, rtol=0)
    # no labels: plain scaled cosines
    plain = losses.arcface_logits(x, weight, None, m, S)
    torch.testing.assert_close(plain, torch.tensor([[S * 0.5, S * math.cos(math.radians(30.0))]]),
                               atol=1e-4, rtol=0)


def test_arcface_fallback_past_pi_minus_m():
    m = 0.7
    # θ = 170° from class 0: θ + m > π, so cos θ − sin(π − m)·m replaces cos(θ + m)
    x = torch.tensor([_unit(170.0)])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = losses.arcface_logits(x, weight, torch.tensor([0]), m, S)
    cos = math.cos(math.radians(170.0))
    assert cos <= math.cos(math.pi - m)
    assert logits[0, 0].item() == pytest.approx(S * (cos - math.sin(math.pi - m) * m), abs=1e-4)
    # θ = 100° stays on cos(θ + m)
    x = torch.tensor([_unit(100.0)])
    logits = losses.arcface_logits(x, weight, torch.tensor([0]), m, S)
    assert logits[0, 0].item() == pytest.approx(S * math.cos(math.radians(100.0) + m), abs=1e-4)


def _ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -logits.log_softmax(dim=1)[torch.arange(len(y)), y].mean()


def test_namix_is_mixed_ce_with_margin_on_y_a_only():
    torch.manual_seed(0)
    x, weight = torch.randn(6, 8), torch.randn(5, 8)
    y_a = torch.tensor([0, 1, 2, 3, 4, 0])
    y_b = torch.tensor([1, 1, 3, 0, 2, 4])
    lam, m = 0.3, 0.4
    loss, logits = losses.namix_loss(x, weight, y_a, y_b, lam, m, S)
    cos = F.normalize(x) @ F.normalize(weight).T
    expected_logits = S * cos.clone()
    rows = torch.arange(6)
    expected_logits[rows, y_a] = S * torch.cos(torch.acos(cos[rows, y_a]) + m)
    torch.testing.assert_close(logits, expected_logits, atol=1e-4, rtol=1e-5)
    # where y_b differs from y_a its logit carries no margin
    differs = y_a != y_b
    torch.testing.assert_close(logits[rows[differs], y_b[differs]], S * cos[rows[differs], y_b[differs]])
    expected = lam * _ce(expected_logits, y_a) + (1 - lam) * _ce(expected_logits, y_b)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)


def test_arcmix_puts_the_margin_on_each_label():
    torch.manual_seed(1)
    x, weight = torch.randn(4, 8), torch.randn(3, 8)
    y_a, y_b = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 0])
    lam, m = 0.6, 0.7
    loss, logits = losses.arcmix_loss(x, weight, y_a, y_b, lam, m, S)
    la = losses.arcface_logits(x, weight, y_a, m, S)
    lb = losses.arcface_logits(x, weight, y_b, m, S)
    torch.testing.assert_close(logits, la)
    torch.testing.assert_close(loss, lam * _ce(la, y_a) + (1 - lam) * _ce(lb, y_b))
    namix, _ = losses.namix_loss(x, weight, y_a, y_b, lam, m, S)
    assert not torch.isclose(loss, namix)


def supcon_loop(z: torch.Tensor, y: list[int], tau: float, base: float = 0.07) -> float:
    """Eq. (1) read literally, per anchor, averaged over anchors and scaled by τ/0.07."""
    z = z.double()
    total = 0.0
    for i in range(len(y)):
        others = [a for a in range(len(y)) if a != i]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            continue  # an anchor with no positive contributes 0
        denominator = sum(math.exp(float(z[i] @ z[a]) / tau) for a in others)
        total += -sum(math.log(math.exp(float(z[i] @ z[p]) / tau) / denominator)
                      for p in positives) / len(positives)
    return (tau / base) * total / len(y)


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.5])
def test_supcon_matches_equation_one(tau):
    torch.manual_seed(2)
    z = F.normalize(torch.randn(9, 16), dim=1)
    y = [0, 0, 1, 1, 1, 2, 3, 3, 4]  # classes 2 and 4 are anchors without positives
    got = losses.supcon_noise(z, torch.tensor(y), tau)
    assert got.item() == pytest.approx(supcon_loop(z, y, tau), rel=1e-4, abs=1e-6)


def test_supcon_anchor_without_positive_contributes_zero():
    torch.manual_seed(3)
    z = F.normalize(torch.randn(5, 8), dim=1)
    assert losses.supcon_noise(z, torch.arange(5)).item() == 0.0
    # one pair plus three loners: the mean runs over all 5 anchors, only 2 of them non-zero
    pair = losses.supcon_noise(z, torch.tensor([0, 0, 1, 2, 3]))
    assert pair.item() > 0
    assert pair.item() == pytest.approx(supcon_loop(z, [0, 0, 1, 2, 3], 0.02), rel=1e-4)


def test_supcon_temperature_scaling():
    torch.manual_seed(4)
    z = F.normalize(torch.randn(6, 8), dim=1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    a = losses.supcon_noise(z, y, 0.02, base_temperature=0.07)
    b = losses.supcon_noise(z, y, 0.02, base_temperature=0.02)
    torch.testing.assert_close(a, b * (0.02 / 0.07))


# What the shipped tfstgram and logmel frontends declare.
FUSED = FrontendInfo((3, 128, 32), frozenset({LOG_MEL, "tgram", "tfgram"}))
LOG_MEL_ONLY = FrontendInfo((1, 128, 32), frozenset({LOG_MEL}))


def _osscl(frontend_info: FrontendInfo = FUSED, **overrides) -> methods.OSSCLMethod:
    options = {**option_defaults(methods.OSSCL_OPTIONS), **overrides}
    return methods.OSSCLMethod(options, num_classes=4, embedding_dim=16,
                               frontend_info=frontend_info)


def test_osscl_loss_is_supcon_on_y_a_plus_namix_even_for_small_lambda():
    torch.manual_seed(5)
    method = _osscl().train()
    z = torch.randn(8, 16)
    y_a = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    y_b = torch.tensor([1, 2, 0, 3, 3, 1, 0, 2])
    lam = 0.01  # the mixed clips are almost all y_b, yet positives stay y_a
    loss, logits = method.loss(z, y_a, y_b, lam)
    e = method.embed(z)
    namix, expected_logits = losses.namix_loss(e, method.weight, y_a, y_b, lam, method.margin, S)
    sup_a = losses.supcon_noise(e, y_a, 0.02)
    torch.testing.assert_close(loss, sup_a + namix)
    torch.testing.assert_close(logits, expected_logits)
    assert not torch.isclose(loss, losses.supcon_noise(e, y_b, 0.02) + namix)


def test_supcon_ablation_has_no_mixup():
    method = methods.SupConMethod(option_defaults(methods.SUPCON_OPTIONS), 4, 16, LOG_MEL_ONLY)
    assert method.mixup_alpha is None and _osscl().mixup_alpha == 0.5


def test_losses_run_in_float32_under_autocast():
    torch.manual_seed(6)
    x, weight = torch.randn(4, 16), torch.randn(3, 16)
    y = torch.tensor([0, 1, 2, 0])
    reference = losses.arcface_logits(x, weight, y, 0.7, S)
    sup = losses.supcon_noise(F.normalize(x, dim=1), y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = losses.arcface_logits(x.bfloat16(), weight, y, 0.7, S)
        sup_amp = losses.supcon_noise(F.normalize(x, dim=1), y)
    assert logits.dtype == torch.float32 and sup_amp.dtype == torch.float32
    # only the bf16 rounding of the input remains
    torch.testing.assert_close(logits, reference, atol=0.2, rtol=0)
    torch.testing.assert_close(sup_amp, sup)
