"""Export a trained run's scoring model for deployment without asdbench (TorchScript or ONNX).

The exported model maps a batch of waveforms ``[B, L]`` (float32 in [-1, 1), the run's sample
rate and clip length) to anomaly scores ``[B, K]``: the score of every clip against every
machine-ID class of the run (the caller takes the column of its machine; higher = more
anomalous). The log-Mel, the learned frontends, the backbone, the head and the scorer are all
inside, so a deployment needs only ``torch.jit.load`` (or onnxruntime) and the JSON sidecar
``<file>.json`` that names the classes, the sample rate, the clip length and the scorer.

Scores equal the run's ``scores.csv`` (the engine caches log-Mel in float32, the same values
the model computes inside). Scorers:

- ``ce``: ``-log_softmax`` of the class logits at each class, with the logits the method gives
  for that class (ArcFace: the margin on that class when ``method.eval_margin`` is true). All K
  columns come from one batched call of the method's own ``logits`` on ``B·K`` rows;
- ``cosine``, ``knn``, ``knn-domain``: cosine distances to the run's saved train embeddings of
  each class (class means, the k nearest, the k nearest per domain then the minimum).

Other scorers (fitted models such as k-means) are refused with a clear error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdbench import __version__
from asdbench.atomic import atomic_path, atomic_write_text
from asdbench.registry import AsdbenchError

FORMATS = ("torchscript", "onnx")
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
EMBEDDING_SCORERS = ("cosine", "knn", "knn-domain")
SCORERS = ("ce", *EMBEDDING_SCORERS)
ONNX_OPSET = 18
# onnxscript: torch.onnx's exporter for torch.export graphs (the only one that handles the STFT)
ONNX_MODULES = ("onnx", "onnxruntime", "onnxscript")
# Exported vs eager scores on random clips; float32 reorderings stay far below this.
VERIFY_TOLERANCE = 1e-3


def ce_all_classes(method: nn.Module, e: Tensor, num_classes: int,
                   class_ids: Tensor | None = None) -> Tensor:
    """``[B, K]``: ``-log_softmax(method.logits(e, k))[k]`` for every class ``k`` at once.

    Each clip's embedding is repeated K times, row ``(b, k)`` labelled ``k`` (so a margin lands
    on ``k``), and the method's own ``logits`` is called once on the ``B·K`` rows: the same
    maths as the ``ce`` scorer, for every column. The extra cost is ``B·K·K·E`` multiply-adds,
    negligible beside the network (41 classes: 0.2 MFLOP per clip against ~4.5 GFLOP).
    """
    dim = e.shape[-1]
    rows = e.unsqueeze(1).expand(-1, num_classes, dim).reshape(-1, dim)
    if class_ids is None:
        class_ids = torch.arange(num_classes, device=e.device)
    labels = class_ids.unsqueeze(0).expand(e.shape[0], -1)
    logits = method.logits(rows, labels.reshape(-1)).float().reshape(-1, num_classes, num_classes)
    own = torch.diagonal(logits, dim1=1, dim2=2)
    return torch.logsumexp(logits, dim=2) - own


def cosine_distance_topk(e: Tensor, reference: Tensor, k: int) -> Tensor:
    """Mean cosine distance of each row of ``e`` to its ``k`` nearest rows of the L2-normalised
    ``reference`` (``k`` capped at its size), as ``asdbench.scoring.knn_cosine_distance``."""
    q = F.normalize(e.float(), dim=1)
    dist = 1.0 - q @ reference.T
    k = max(1, min(int(k), reference.shape[0]))
    if k == 1:
        return dist.min(dim=1).values
    return dist.topk(k, dim=1, largest=False).values.mean(dim=1)


def _normalized(x: np.ndarray) -> Tensor:
    x = np.asarray(x, dtype=np.float32)
    return torch.from_numpy(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def embedding_references(scorer: str, k: int, embeddings: np.ndarray, class_index: np.ndarray,
                         domain: np.ndarray, num_classes: int) -> list[list[Tensor]]:
    """Per class, the reference sets the embedding scorer compares with (L2-normalised rows):
    ``cosine`` → the class mean, ``knn`` → all its train embeddings, ``knn-domain`` → one set
    per domain present among them. A class without train embeddings is an error."""
    refs: list[list[Tensor]] = []
    for c in range(num_classes):
        rows = np.flatnonzero(class_index == c)
        if not len(rows):
            raise AsdbenchError(f"scorer '{scorer}': class {c} has no training embeddings")
        emb = embeddings[rows]
        if scorer == "cosine":
            refs.append([_normalized(np.asarray(emb, np.float64).mean(axis=0, keepdims=True))])
        elif scorer == "knn":
            refs.append([_normalized(emb)])
        else:
            dom = domain[rows]
            refs.append([_normalized(emb[dom == d]) for d in sorted(set(dom.tolist()))])
    return refs


class ScoringModel(nn.Module):
    """Waveforms ``[B, L]`` → anomaly scores ``[B, K]`` (see the module docstring)."""

    def __init__(self, model: nn.Module, num_classes: int, scorer: str = "ce", k: int = 1,
                 references: list[list[Tensor]] | None = None) -> None:
        super().__init__()
        if scorer not in SCORERS:
            raise AsdbenchError(f"scorer '{scorer}' cannot be exported "
                                f"(supported: {', '.join(SCORERS)})")
        self.frontend, self.backbone, self.method = model.frontend, model.backbone, model.method
        self.num_classes = num_classes
        self.scorer = scorer
        self.k = 1 if scorer == "cosine" else int(k)
        # a buffer, not a traced arange: the exported file then runs on any device
        self.register_buffer("class_ids", torch.arange(num_classes), persistent=False)
        # (class, buffer name) pairs: traced as K unrolled reference comparisons
        self._refs: list[tuple[int, str]] = []
        if scorer != "ce":
            if references is None or len(references) != num_classes:
                raise AsdbenchError(f"scorer '{scorer}' needs the reference embeddings of "
                                    f"all {num_classes} classes")
            for c, sets in enumerate(references):
                for j, ref in enumerate(sets):
                    name = f"ref_{c}_{j}"
                    self.register_buffer(name, ref.float().contiguous())
                    self._refs.append((c, name))

    def forward(self, wave: Tensor) -> Tensor:
        feats = self.frontend.features(wave)
        e = self.method.embed(self.backbone(self.frontend(wave, feats)))
        if self.scorer == "ce":
            return ce_all_classes(self.method, e, self.num_classes, self.class_ids)
        columns: list[list[Tensor]] = [[] for _ in range(self.num_classes)]
        for c, name in self._refs:
            columns[c].append(cosine_distance_topk(e, getattr(self, name), self.k))
        # several domains: the nearest one wins
        return torch.stack([torch.stack(col).amin(dim=0) for col in columns], dim=1)


def scoring_model(run) -> ScoringModel:
    """The :class:`ScoringModel` of a loaded run (``asdbench.runs.LoadedRun``), in eval mode."""
    cfg = run.config
    scorer = str(cfg["scorer"])
    if scorer not in SCORERS:
        raise AsdbenchError(f"{run.run_dir}: scorer '{scorer}' cannot be exported "
                            f"(supported: {', '.join(SCORERS)}); rerun with --scorer ce")
    refs = None
    if scorer != "ce":
        train = run.train_inputs()
        refs = embedding_references(scorer, int(cfg.get("scorer.k", 1)), train.embeddings,
                                    train.class_index, train.domain, len(run.classes))
    return ScoringModel(run.model, len(run.classes), scorer, int(cfg.get("scorer.k", 1)),
                        refs).eval()


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


def _save_torchscript(module: ScoringModel, example: Tensor, out: Path) -> None:
    # torch 2.10+ marks torch.jit deprecated (FutureWarning) but it is what deployments load
    with torch.no_grad(), warnings.catch_warnings(), atomic_path(out) as tmp:
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, (example,), check_trace=False)
        torch.jit.save(traced, str(tmp))


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


def _save_onnx(module: ScoringModel, example: Tensor, out: Path) -> None:
    # the exporter warns about every torchvision op it cannot register: noise here
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with (torch.no_grad(), _onnx_compatible_ops(), contextlib.redirect_stdout(io.StringIO()),
              atomic_path(out, suffix=".onnx") as tmp):
            # The torch.export-based exporter (needs onnxscript): the TorchScript-based one
            # cannot export the complex STFT inside the log-Mel.
            torch.onnx.export(module, (example,), str(tmp), input_names=["wave"],
                              output_names=["scores"], opset_version=ONNX_OPSET,
                              dynamic_shapes={"wave": {0: torch.export.Dim("batch")}},
                              dynamo=True, external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)


def _run_exported(path: Path, fmt: str, wave: Tensor) -> Tensor:
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")(wave)
    import onnxruntime as ort  # noqa: PLC0415 - optional extra

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"wave": wave.numpy()})[0])


def export_run(run_dir: str | Path, fmt: str = "torchscript", out: str | Path | None = None,
               *, verify: bool = True) -> Path:
    """Write the scoring model of a finished run as ``fmt`` and its JSON sidecar.

    ``out`` defaults to ``<run_dir>/export/model.pt`` (``.onnx``). With ``verify`` the saved
    file is loaded back and its scores on random clips (batch 3, another size than the one
    traced) are compared with the eager model; a mismatch is an error. Returns the model path.
    """
    from asdbench.runs import load_run  # noqa: PLC0415 - keeps `import asdbench.export` light

    if fmt not in FORMATS:
        raise AsdbenchError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if fmt == "onnx" and not onnx_available():
        raise AsdbenchError("--format onnx needs the optional onnx extra: pip install "
                            "'asdbench[onnx]' (onnx, onnxruntime, onnxscript)")
    run = load_run(run_dir, "cpu")
    module = scoring_model(run)
    audio = run.audio
    out = Path(out) if out is not None else Path(run_dir) / "export" / f"model{SUFFIX[fmt]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    example = _example(audio.num_samples)
    (_save_torchscript if fmt == "torchscript" else _save_onnx)(module, example, out)
    if verify:
        check = _example(audio.num_samples, batch=3, seed=1)
        with torch.no_grad():
            want = module(check)
        got = _run_exported(out, fmt, check)
        err = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
        if not err <= VERIFY_TOLERANCE:
            raise AsdbenchError(f"{out}: exported {fmt} model disagrees with the run's model "
                                f"(max |Δscore| = {err:.3g}, shape {tuple(got.shape)})")
    cfg = run.config
    meta: dict[str, Any] = {
        "format": fmt, "file": out.name, "run_id": run.info.get("run_id"),
        "classes": list(run.classes), "sample_rate": audio.sample_rate,
        "clip_samples": audio.num_samples, "clip_seconds": audio.clip_seconds,
        "scorer": cfg["scorer"], "scorer_k": module.k if cfg["scorer"] != "ce" else None,
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
    atomic_write_text(sidecar_path(out), json.dumps(meta, indent=2))
    return out


@click.command("export")
@click.option("--run", "run_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A finished run folder (results/runs/<id>).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="torchscript",
              show_default=True, help="torchscript (torch.jit.load) or onnx (onnxruntime).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to write (default <run>/export/model.pt or model.onnx).")
def export_command(run_dir: Path, fmt: str, out: Path | None) -> None:
    """Export a run's scoring model: waveforms [B, L] → anomaly scores [B, classes].

    \b
    The log-Mel and the scorer are inside; a JSON sidecar <file>.json names the classes
    (column order), sample rate and clip length. Examples:
      asdbench export --run results/runs/<id>
      asdbench export --run results/runs/<id> --format onnx --out fan.onnx
    """
    path = export_run(run_dir, fmt, out)
    click.echo(f"wrote {path} and {sidecar_path(path)}")
