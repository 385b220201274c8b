"""Export a trained run's scoring model for deployment without asdbench (TorchScript or ONNX).

The exported model maps a batch of waveforms ``[B, L]`` (float32 in [-1, 1), the run's sample
rate and clip length) to anomaly scores ``[B, K]``: the score of every clip against every
machine-ID class of the run (the caller takes the column of its machine; higher = more
anomalous). The log-Mel, the learned frontends, the backbone, the head and the scorer are all
inside, so a deployment needs only ``torch.jit.load`` (or onnxruntime) and the JSON sidecar
``<file>.json`` that names the classes, the sample rate, the clip length and the scorer.

The scorer part comes from the scorer itself: the run's scorer is fitted again on the run's
saved train inputs (what it was fitted on during the run) and asked for
``to_torch(head, num_classes)`` (see the ``asdbench_scorers`` hook); a scorer without it
cannot be exported. Scores equal the run's ``scores.csv`` (the engine caches log-Mel in
float32, the same values the model computes inside).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdbench.atomic import atomic_write_bytes
from asdbench.cache import load_waveforms
from asdbench.config import component_options
from asdbench.data import TRAIN
from asdbench.meta import __version__
from asdbench.plugins import get_registry
from asdbench.quantize import quantize_onnx
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.load import load_run

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
QUANTIZE = ("int8",)
CALIBRATION_CLIPS = 64  # training clips that set the int8 activation ranges
CALIBRATION_BATCH = 8
ONNX_OPSET = 18
# onnxscript: torch.onnx's exporter for torch.export graphs (the only one that handles the STFT)
ONNX_MODULES = ("onnx", "onnxruntime", "onnxscript")
# Exported vs eager scores on random clips; float32 reorderings stay far below this.
VERIFY_TOLERANCE = 1e-3


class ScoringModel(nn.Module):
    """Waveforms ``[B, L]`` → anomaly scores ``[B, K]``: the run's frontend, backbone and
    method embedding, then ``scores``, a scorer's ``to_torch`` module (embeddings → ``[B, K]``)."""

    def __init__(self, model: nn.Module, scores: nn.Module) -> None:
        super().__init__()
        self.frontend, self.backbone, self.method = model.frontend, model.backbone, model.method
        self.scores = scores

    def forward(self, wave: Tensor) -> Tensor:
        feats = self.frontend.features(wave)
        e = self.method.embed(self.backbone(self.frontend(wave, feats)))
        return self.scores(e).float()


def _to_torch(scorer: Any, name: str):
    to_torch = getattr(scorer, "to_torch", None)
    if not callable(to_torch):
        raise AsdbenchError(f"scorer '{name}' cannot be exported: it has no to_torch(head, "
                            "num_classes) method (see the asdbench_scorers hook)")
    return to_torch


def scorer_module(scorer: Any, name: str, head: nn.Module, num_classes: int) -> nn.Module:
    """``scorer.to_torch(head, num_classes)`` of a fitted scorer registered as ``name``;
    a scorer without it is a one-line error naming it."""
    module = _to_torch(scorer, name)(head, num_classes)
    if not isinstance(module, nn.Module):
        raise AsdbenchError(f"scorer '{name}': to_torch returned {type(module).__name__}, "
                            "expected a torch.nn.Module")
    return module


def scoring_model(run, registry: Registry | None = None) -> ScoringModel:
    """The :class:`ScoringModel` of a loaded run (``asdbench.run.load.LoadedRun``), in eval mode:
    its scorer (looked up in ``registry``, default the process-wide one) is fitted on the
    run's saved train inputs and exported through its ``to_torch``."""
    cfg = run.config
    name = str(cfg["scorer"])
    scorer = (registry or get_registry()).create("scorer", name,
                                                 component_options(cfg, "scorer"))
    _to_torch(scorer, name)  # fail before fitting
    scorer.fit(run.train_inputs())
    scores = scorer_module(scorer, name, run.model.method, len(run.classes))
    return ScoringModel(run.model, scores).eval()


def onnx_available() -> bool:
    """Whether the optional ``asdbench[onnx]`` extra (onnx, onnxruntime, onnxscript) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ONNX_MODULES)


def sidecar_path(path: str | Path) -> Path:
    """``model.pt`` → ``model.pt.json``: the sidecar travels with its model file."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _example(num_samples: int, batch: int = 2, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.1 * torch.randn(batch, num_samples, generator=g)).clamp(-1.0, 1.0)


def torchscript_bytes(module: ScoringModel, example: Tensor) -> bytes:
    """The traced ``module`` as a TorchScript file's bytes. The archive's folder is always
    ``archive`` (saved to a path, torch names it after the file: the temporary name)."""
    # torch 2.10+ marks torch.jit deprecated (FutureWarning) but it is what deployments load
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, (example,), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def save_torchscript(module: ScoringModel, example: Tensor, out: Path) -> None:
    """Write :func:`torchscript_bytes` to ``out`` atomically."""
    atomic_write_bytes(out, torchscript_bytes(module, example))


def gather_adaptive_max_pool1d(x: Tensor, output_size: int) -> Tensor:
    """``F.adaptive_max_pool1d`` as a gather of fixed-width windows and a max (equal values).

    ONNX has no adaptive pooling; for a static length the windows are known at export time:
    window ``i`` spans ``[floor(i·L/n), ceil((i+1)·L/n))``; shorter windows repeat their last
    index, which leaves the maximum unchanged.
    """
    length, n = int(x.shape[-1]), int(output_size)
    starts = [(i * length) // n for i in range(n)]
    ends = [-(-((i + 1) * length) // n) for i in range(n)]
    width = max(e - s for s, e in zip(starts, ends, strict=True))
    index = torch.tensor([min(s + j, e - 1) for s, e in zip(starts, ends, strict=True)
                          for j in range(width)], device=x.device)
    return x[..., index].reshape(*x.shape[:-1], n, width).amax(dim=-1)


@contextlib.contextmanager
def _onnx_compatible_ops() -> Iterator[None]:
    """Swap ``F.adaptive_max_pool1d`` (not exportable to ONNX when the length is not a
    multiple of the output size, as in TFgram) for :func:`gather_adaptive_max_pool1d`."""
    original = F.adaptive_max_pool1d

    def pool(x, output_size, return_indices=False):
        if return_indices:
            return original(x, output_size, return_indices)
        size = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
        return gather_adaptive_max_pool1d(x, size)

    F.adaptive_max_pool1d = pool
    try:
        yield
    finally:
        F.adaptive_max_pool1d = original


def save_onnx(module: ScoringModel, example: Tensor, out: Path) -> None:
    """Write ``module`` as ONNX to ``out`` (batch size dynamic); ``out`` is written in place:
    callers give a temporary path."""
    # the exporter warns about every torchvision op it cannot register: noise here
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), _onnx_compatible_ops(), contextlib.redirect_stdout(io.StringIO()):
            # The torch.export-based exporter (needs onnxscript): the TorchScript-based one
            # cannot export the complex STFT inside the log-Mel.
            torch.onnx.export(module, (example,), str(out), input_names=["wave"],
                              output_names=["scores"], opset_version=ONNX_OPSET,
                              dynamic_shapes={"wave": {0: torch.export.Dim("batch")}},
                              dynamo=True, external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)


def _run_exported(path: Path, fmt: str, wave: Tensor) -> Tensor:
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu")
            return torch.cat([model(wave), *(model(wave[i:i + 1]) for i in range(len(wave)))])
    import onnxruntime as ort  # noqa: PLC0415 - optional extra

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = wave.numpy()
    return torch.from_numpy(np.concatenate([session.run(None, {"wave": x})[0],
                                            *(session.run(None, {"wave": x[i:i + 1]})[0]
                                              for i in range(len(x)))]))


def _verify(module: ScoringModel, out: Path, fmt: str, num_samples: int,
            tolerance: float | None = VERIFY_TOLERANCE) -> float:
    """The saved file's scores on random clips (batch 3, another size than the one traced)
    against the eager model's: their largest difference. Above ``tolerance`` (None: any
    finite difference) it is an error naming the file. So is a file whose scores of a clip
    alone differ from its scores in the batch by more than :data:`VERIFY_TOLERANCE`."""
    check = _example(num_samples, batch=3, seed=1)
    with torch.no_grad():
        want = module(check)
    both = _run_exported(out, fmt, check)
    got, alone = both[:len(check)], both[len(check):]
    err = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
    if not (err <= tolerance if tolerance is not None else np.isfinite(err)):
        raise AsdbenchError(f"{out}: exported {fmt} model disagrees with the run's model "
                            f"(max |Δscore| = {err:.3g}, shape {tuple(got.shape)})")
    batch_err = float((got - alone).abs().max()) if got.shape == alone.shape else float("inf")
    if not batch_err <= VERIFY_TOLERANCE:
        raise AsdbenchError(f"{out}: a clip's exported {fmt} score depends on the clips "
                            f"scored with it (max |Δscore| = {batch_err:.3g}, batch of 3 "
                            "against one by one)")
    return err


def _sidecar(run, fmt: str, out: Path, precision: str) -> dict[str, Any]:
    """What a deployment needs to know besides the model file."""
    cfg, audio = run.config, run.audio
    meta: dict[str, Any] = {
        "format": fmt, "file": out.name, "precision": precision,
        "run_id": run.info.get("run_id"),
        "classes": list(run.classes), "sample_rate": audio.sample_rate,
        "clip_samples": audio.num_samples, "clip_seconds": audio.clip_seconds,
        "scorer": cfg["scorer"], "scorer_options": component_options(cfg, "scorer"),
        "frontend": cfg["frontend"], "backbone": cfg["backbone"], "method": cfg["method"],
        "input": {"name": "wave", "shape": ["batch", audio.num_samples], "dtype": "float32",
                  "range": "[-1, 1) (16-bit PCM / 32768)"},
        "output": {"name": "scores", "shape": ["batch", len(run.classes)], "dtype": "float32",
                   "meaning": "anomaly score of each clip against each class (column order = "
                              "classes); higher = more anomalous"},
        "asdbench": __version__, "torch": torch.__version__,
    }
    if fmt == "onnx":
        meta["opset"] = ONNX_OPSET
    return meta


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish(model_tmp: Path, meta: dict[str, Any], out: Path) -> None:
    """Move a written model to ``out`` and its sidecar beside it, so that the pair always
    matches: the old sidecar goes first, the new one (holding the model's hash) comes last.
    A process killed in between leaves a model without a sidecar, never a mismatched pair."""
    meta["sha256"] = file_sha256(model_tmp)
    side, side_tmp = sidecar_path(out), model_tmp.with_name(model_tmp.name + ".json")
    side_tmp.write_text(json.dumps(meta, indent=2))
    for path in (model_tmp, side_tmp):
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
    side.unlink(missing_ok=True)
    os.replace(model_tmp, out)
    os.replace(side_tmp, side)


def calibration_batches(run, registry: Registry, clips: int,
                        batch: int = CALIBRATION_BATCH) -> list[np.ndarray]:
    """Up to ``clips`` of the run's training clips, evenly spread over them in dataset order,
    as float32 waveform batches ``[B, L]``: what static int8 quantisation calibrates on."""
    cfg = run.config
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    train = [c for c in dataset.clips() if c.split == TRAIN]
    if not train:
        raise AsdbenchError(f"dataset '{cfg['dataset']}' lists no training clips to calibrate "
                            "the int8 quantisation on; check the run's data.root")
    step = max(1, len(train) // max(1, clips))
    picked = train[::step][:clips]
    waves = load_waveforms(picked, run.audio, progress=False).waves
    return [np.asarray(waves[i:i + batch], dtype=np.float32) / 32768.0
            for i in range(0, len(waves), batch)]


def export_run(run_dir: str | Path, fmt: str = "torchscript", out: str | Path | None = None,
               *, quantize: str | None = None, calibration_clips: int = CALIBRATION_CLIPS,
               verify: bool = True, registry: Registry | None = None) -> Path:
    """Write the scoring model of a finished run as ``fmt`` and its JSON sidecar.

    ``out`` defaults to ``<run_dir>/export/model.pt`` (``.onnx``; ``model-int8.onnx`` for
    int8). ``quantize="int8"`` (ONNX only) quantises the backbone and method head
    (:mod:`asdbench.quantize`), calibrated on ``calibration_clips`` training clips. With
    ``verify`` the saved file is loaded back and checked against the eager model
    (:func:`_verify`; an int8 model only for finite scores, its difference is recorded).
    ``registry`` (default: the process-wide one) provides the run's components and scorer.
    The model and its sidecar (holding the model's SHA-256) are written beside ``out`` under
    temporary names and moved into place together (:func:`_publish`). Returns the model path.
    """
    if fmt not in FORMATS:
        raise AsdbenchError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if quantize not in (None, *QUANTIZE):
        raise AsdbenchError(f"--quantize must be one of {', '.join(QUANTIZE)}, got '{quantize}'")
    if quantize and fmt != "onnx":
        raise AsdbenchError("--quantize int8 writes ONNX (ONNX Runtime's quantiser): use "
                            "--format onnx")
    if fmt == "onnx" and not onnx_available():
        raise AsdbenchError("--format onnx needs the optional onnx extra: pip install "
                            "'asdbench[onnx]' (onnx, onnxruntime, onnxscript)")
    registry = registry or get_registry()
    run = load_run(run_dir, "cpu", registry)
    module = scoring_model(run, registry)
    name = f"model{'-' + quantize if quantize else ''}{SUFFIX[fmt]}"
    out = Path(out) if out is not None else Path(run_dir) / "export" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    example = _example(run.audio.num_samples)
    precision = quantize or "fp32"
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model_tmp = tmp / f"model{SUFFIX[fmt]}"  # a fixed name: nothing of it enters the file
        if fmt == "torchscript":
            model_tmp.write_bytes(torchscript_bytes(module, example))
        else:
            save_onnx(module, example, model_tmp)
        meta = _sidecar(run, fmt, out, precision)
        if quantize:
            fp32, model_tmp = model_tmp, tmp / f"model-{quantize}{SUFFIX[fmt]}"
            batches = calibration_batches(run, registry, calibration_clips)
            try:
                done = quantize_onnx(fp32, model_tmp, batches)
            except AsdbenchError as exc:
                raise AsdbenchError(f"--quantize {quantize} of {run_dir}: {exc}") from None
            meta["quantization"] = {**done, "calibration_clips": sum(len(b) for b in batches)}
        if verify:
            err = _verify(module, model_tmp, fmt, run.audio.num_samples,
                          None if quantize else VERIFY_TOLERANCE)
            if quantize:
                meta["quantization"]["max_abs_diff_vs_fp32_random_clips"] = err
        _publish(model_tmp, meta, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
