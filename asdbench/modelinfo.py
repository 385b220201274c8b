"""Size and cost of a configured model: inference parameters and forward FLOPs per clip."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from asdbench.config import COMPONENT_DEFAULTS, TRAIN_DEFAULTS
from asdbench.data import AudioSpec
from asdbench.model import build_model
from asdbench.registry import Registry
from asdbench.run.loop import trains

PARTS = ("frontend", "backbone", "method")
# The class count a model is sized at when none is given (``asdbench describe``, bench/): the
# DCASE 2020 Task 2 dev + additional training IDs of the paper's figures. A run takes its
# count from its dataset, so the run config has none.
PAPER_NUM_CLASSES = 41


def audio_spec(cfg: dict[str, Any]) -> AudioSpec:
    """The clip format of a run config (``data.sample_rate``/``data.clip_seconds``, else 16 kHz, 10 s)."""
    default = AudioSpec()
    return AudioSpec(sample_rate=int(cfg.get("data.sample_rate", default.sample_rate)),
                     clip_seconds=float(cfg.get("data.clip_seconds", default.clip_seconds)))


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _by_part(model: nn.Module, measure) -> dict[str, int]:
    """``measure`` of each part and of each part's direct children (``frontend.tgram``, ...)."""
    out: dict[str, int] = {}
    for part in PARTS:
        module = getattr(model, part)
        out[part] = measure(part, None)
        for child, _ in module.named_children():
            value = measure(part, child)
            if value:
                out[f"{part}.{child}"] = value
    return out


class _Part(nn.Module):
    """Runs ``fn`` with ``part`` as a child, so the FLOP counter names its sub-modules
    ``_Part.part.<child>`` even when ``fn`` calls methods other than ``forward``."""

    def __init__(self, part: nn.Module, fn) -> None:
        super().__init__()
        self.part = part
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _flop_counts(model, wave: torch.Tensor, feats: torch.Tensor,
                 labels: torch.Tensor) -> dict[str, dict[str, int]]:
    """FLOPs of one forward, per part: ``{part: {"": total, child: flops}}``."""
    counts: dict[str, dict[str, int]] = {}

    def run(part: str, fn, *args):
        module = getattr(model, part)
        with FlopCounterMode(display=False) as counter:
            result = _Part(module, fn)(*args)
        per_module = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
        counts[part] = {"": counter.get_total_flops()}
        for name, _ in module.named_children():
            counts[part][name] = per_module.get(f"{_Part.__name__}.part.{name}", 0)
        return result

    method = model.method
    x = run("frontend", model.frontend, wave, feats)
    z = run("backbone", model.backbone, x)
    run("method", lambda e: method.logits(method.embed(e), labels), z)
    return counts


def describe_model(cfg: dict[str, Any], registry: Registry, num_classes: int | None = None, *,
                   count_flops: bool = True) -> dict[str, Any]:
    """Build the model of ``cfg`` and report its inference size and cost.

    Returns ``params`` (every parameter of frontend + backbone + method head: the inference
    weights), ``trained_params`` (those training updates), ``params_by_part``, ``flops_per_clip`` (forward FLOPs of one clip from its waveform
    and cached log-Mel through frontend, backbone, embedding head and class logits; the cached
    features themselves are not counted; a multiply-add counts 2), ``flops_by_part``,
    ``input_shape`` ([C, F, T] entering the backbone), ``num_samples``, ``sample_rate``,
    ``clip_seconds``, ``num_classes`` and ``embedding_dim``; with the FLOPs,
    ``feature_flops_per_clip`` (the cached features' FLOPs, once per clip: a frozen encoder's
    forward) and ``train_memory_bytes`` (:func:`training_memory` at ``train.batch_size``).
    ``num_classes`` defaults to 41, the class count of the paper's figures. ``count_flops=False`` skips the forward pass.
    """
    cfg = {**COMPONENT_DEFAULTS, **cfg}
    # building and probing the model must not move the caller's random stream
    with torch.random.fork_rng(devices=[]):
        return _describe(cfg, registry, num_classes, count_flops)


def _describe(cfg: dict[str, Any], registry: Registry, num_classes: int | None,
              count_flops: bool) -> dict[str, Any]:
    audio = audio_spec(cfg)
    classes = PAPER_NUM_CLASSES if num_classes is None else int(num_classes)
    model = build_model(cfg, registry, audio, classes).eval()

    def params(part: str, child: str | None) -> int:
        module = getattr(model, part)
        return count_params(module if child is None else getattr(module, child))

    info: dict[str, Any] = {
        "frontend": cfg["frontend"], "backbone": cfg["backbone"], "method": cfg["method"],
        "params": count_params(model),
        "params_by_part": _by_part(model, params),
        "input_shape": [int(v) for v in model.frontend.out_shape],
        "num_samples": audio.num_samples,
        "sample_rate": audio.sample_rate,
        "clip_seconds": audio.clip_seconds,
        "num_classes": classes,
        "embedding_dim": int(model.backbone.embedding_dim),
    }
    info["trained_params"] = (sum(p.numel() for p in model.parameters() if p.requires_grad)
                              if trains(model) else 0)
    if count_flops:
        with torch.no_grad():
            wave = torch.randn(1, audio.num_samples)
            with FlopCounterMode(display=False) as counter:
                feats = model.frontend.features(wave)
            counts = _flop_counts(model, wave, feats, torch.zeros(1, dtype=torch.long))
        info["flops_per_clip"] = sum(c[""] for c in counts.values())
        # the cached features, computed once per clip (a frozen encoder's whole forward)
        info["feature_flops_per_clip"] = counter.get_total_flops()
        info["flops_by_part"] = _by_part(
            model, lambda part, child: counts[part]["" if child is None else child])
        batch = int(cfg.get("train.batch_size") or TRAIN_DEFAULTS["train.batch_size"])
        info["train_memory_bytes"] = training_memory(model, audio, batch)
    return info


def training_memory(model: nn.Module, audio: AudioSpec, batch_size: int) -> int:
    """Bytes a training step of ``batch_size`` clips holds at its peak, estimated: the weights
    and their EMA copy, gradients and AdamW's two moments of what trains, and the tensors
    autograd keeps for the backward pass (measured on two clips, scaled to the batch)."""
    weights = sum(t.numel() * t.element_size()
                  for t in itertools.chain(model.parameters(), model.buffers()))
    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    if not trains(model):
        return weights
    own = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own and ptr not in seen:
            seen.add(ptr)
            saved += t.untyped_storage().nbytes()
        return t

    wave = 0.1 * torch.randn(2, audio.num_samples)
    labels = torch.zeros(2, dtype=torch.long)
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.loss(wave, model.frontend.features(wave), labels, labels, 1.0)
    model.eval()
    return 2 * weights + 3 * trained + saved * batch_size // 2
