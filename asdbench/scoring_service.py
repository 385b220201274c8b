"""Using a trained run: score new recordings (deployment) or re-evaluate it on a test split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asdbench.atomic import atomic_write_text
from asdbench.audio import read_clip
from asdbench.cache import load_features, load_waveforms
from asdbench.config import component_options, resolve
from asdbench.data import TEST, Clip
from asdbench.engine import (
    _autocast,
    _feature_fn,
    _to_split,
    embed_split,
    score_clips,
    scores_frame,
)
from asdbench.metrics import compute_all
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.runs import class_of_path, load_run
from asdbench.scoring import ScoringInputs

SCORE_BATCH = 64  # clips decoded and scored at a time by `asdbench score`


def _wav_files(paths) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.rglob("*.wav")))
        elif p.exists():
            files.append(p)
        else:
            raise AsdbenchError(f"{p}: no such file or folder")
    if not files:
        raise AsdbenchError(f"no .wav files in {', '.join(map(str, paths))}")
    return files


def score_files(run_dir, paths, *, machine_type: str | None = None,
                machine_id: str | None = None, device: str = "auto") -> pd.DataFrame:
    """Anomaly score of each WAV under ``paths`` with the run's model and scorer."""
    run = load_run(run_dir, device)
    files = _wav_files(paths)
    classes = run.classes
    keys = [class_of_path(f, classes, machine_type, machine_id) for f in files]
    labels = torch.tensor([classes.index(k) for k in keys], device=run.device)
    embs, logits = [], []
    run.model.eval()
    for start in range(0, len(files), SCORE_BATCH):  # memory stays flat for any folder
        chunk = files[start:start + SCORE_BATCH]
        wave_t = torch.from_numpy(np.stack([read_clip(f, run.audio) for f in chunk])
                                  .astype(np.float32)).to(run.device)
        feats = run.model.frontend.features(wave_t).float()  # as the cache: no autocast
        with _autocast(run.device, run.config["train.amp"]):  # as embed_split
            e, lg = run.model.infer(wave_t, feats, labels[start:start + SCORE_BATCH])
        embs.append(e.float().cpu())
        logits.append(lg.float().cpu())
    test = ScoringInputs(embeddings=torch.cat(embs).numpy(), logits=torch.cat(logits).numpy(),
                         class_index=labels.cpu().numpy(),
                         domain=np.array([""] * len(files), dtype=object))
    scores = score_clips(run.config, get_registry(), run.train_inputs(), test)
    return pd.DataFrame({"file": [str(f) for f in files],
                         "machine_type": [k.split("/")[0] for k in keys],
                         "machine_id": [k.split("/")[1] for k in keys],
                         "score": scores})


def evaluate_run(run_dir, overrides: dict[str, Any], *, device: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """Metrics of a trained run on a dataset's test split (by default its own)."""
    registry = get_registry()
    run = load_run(run_dir, device, registry)
    base = dict(run.config)
    if "dataset" in overrides and overrides["dataset"] != base["dataset"]:
        base = {k: v for k, v in base.items() if not k.startswith("data.")}
    cfg = resolve({**base, **overrides}, registry)
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    clips: list[Clip] = [c for c in dataset.clips() if c.split == TEST and c.label is not None]
    if not clips:
        raise AsdbenchError(f"dataset '{cfg['dataset']}' has no labelled test clips")
    waves = load_waveforms(clips, run.audio, progress=progress)
    fe = run.model.frontend
    feats = load_features(waves, _feature_fn(fe, run.device), fe.feature_key, progress=progress)
    index = {k: i for i, k in enumerate(run.classes)}
    test = _to_split(waves.clips, waves.waves, feats, index, run.device)
    known = test.labels.cpu().numpy() >= 0
    if not known.all():
        unknown = sorted({c.class_key for c, k in zip(test.clips, known, strict=True) if not k})
        raise AsdbenchError(f"test clips of classes the run was not trained on: {', '.join(unknown)}")
    amp = cfg["train.amp"]
    inputs = embed_split(run.model, test, run.device, amp)
    scores = score_clips(cfg, registry, run.train_inputs(), inputs)
    frame = scores_frame(test.clips, scores)
    metrics = {"run_id": run.info["run_id"], "config": cfg,
               "official_protocol": dataset.protocols[0],
               "protocols": compute_all(frame, list(dataset.protocols))}
    tag = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:8]
    out = Path(run_dir) / "eval" / tag
    atomic_write_text(out / "scores.csv", frame.to_csv(index=False))
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=str))
    metrics["eval_dir"] = str(out)
    return metrics
