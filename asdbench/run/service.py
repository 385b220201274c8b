"""Using a trained run: score new recordings (``asdbench score``) or re-evaluate it on a test
split (``asdbench eval``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asdbench.audio import read_clip
from asdbench.cache import load_features, load_waveforms
from asdbench.config import resolve
from asdbench.data import TEST, AudioSpec, Clip
from asdbench.metrics import compute_all
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.evaluate import embed, embed_split, score_clips, scores_frame
from asdbench.run.rundir import RunDir
from asdbench.run.tensors import Batch, feature_fn, to_split
from asdbench.runs import class_of_path, load_run
from asdbench.scoring import ScoringInputs

SCORE_BATCH = 64  # clips decoded and scored at a time by `asdbench score`


class WavFiles:
    """WAV files decoded a batch at a time (memory stays flat for any folder), with their
    features computed as the cache computes them (no autocast)."""

    def __init__(self, files: list[Path], audio: AudioSpec, frontend: torch.nn.Module,
                 labels: torch.Tensor) -> None:
        self.files, self.audio, self.frontend, self.labels = files, audio, frontend, labels

    def __len__(self) -> int:
        return len(self.files)

    def batch(self, idx: torch.Tensor, device: torch.device) -> Batch:
        clips = [read_clip(self.files[i], self.audio) for i in idx.tolist()]
        wave = torch.from_numpy(np.stack(clips).astype(np.float32)).to(device)
        feats = self.frontend.features(wave).float()
        return wave, feats, self.labels[idx.to(self.labels.device)]


def wav_files(paths: Iterable[str | Path]) -> list[Path]:
    """The WAV files named by ``paths`` (files, or folders searched recursively)."""
    paths = list(paths)
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


def score_files(run_dir: str | Path, paths: Iterable[str | Path], *,
                machine_type: str | None = None, machine_id: str | None = None,
                device: str = "auto") -> pd.DataFrame:
    """Anomaly score of each WAV under ``paths`` with the run's model and scorer."""
    run = load_run(run_dir, device)
    files = wav_files(paths)
    keys = [class_of_path(f, run.classes, machine_type, machine_id) for f in files]
    labels = torch.tensor([run.classes.index(k) for k in keys], device=run.device)
    source = WavFiles(files, run.audio, run.model.frontend, labels)
    embeddings, logits = embed(run.model, source, run.device, run.config["train.amp"],
                               batch_size=SCORE_BATCH)
    test = ScoringInputs(embeddings=embeddings, logits=logits, class_index=labels.cpu().numpy(),
                         domain=np.array([""] * len(files), dtype=object))
    scores = score_clips(run.config, get_registry(), run.train_inputs(), test)
    return pd.DataFrame({"file": [str(f) for f in files],
                         "machine_type": [k.split("/")[0] for k in keys],
                         "machine_id": [k.split("/")[1] for k in keys],
                         "score": scores})


def evaluate_run(run_dir: str | Path, overrides: dict[str, Any], *, device: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """Metrics of a trained run on a dataset's test split (by default its own), written to
    ``eval/<tag>/`` of the run folder (``tag``: a hash of ``overrides``)."""
    registry = get_registry()
    run = load_run(run_dir, device, registry)
    base = dict(run.config)
    if "dataset" in overrides and overrides["dataset"] != base["dataset"]:
        base = {k: v for k, v in base.items() if not k.startswith("data.")}
    cfg = resolve({**base, **overrides}, registry)
    dataset = registry.create("dataset", cfg.dataset, cfg.options("dataset"))
    clips: list[Clip] = [c for c in dataset.clips() if c.split == TEST and c.label is not None]
    if not clips:
        raise AsdbenchError(f"dataset '{cfg.dataset}' has no labelled test clips")
    waves = load_waveforms(clips, run.audio, progress=progress)
    fe = run.model.frontend
    feats = load_features(waves, feature_fn(fe, run.device), fe.feature_key, progress=progress)
    index = {k: i for i, k in enumerate(run.classes)}
    test = to_split(waves.clips, waves.waves, feats, index, run.device)
    known = test.labels.cpu().numpy() >= 0
    if not known.all():
        unknown = sorted({c.class_key for c, k in zip(test.clips, known, strict=True) if not k})
        raise AsdbenchError(f"test clips of classes the run was not trained on: {', '.join(unknown)}")
    inputs = embed_split(run.model, test, run.device, cfg.train.amp)
    frame = scores_frame(test.clips, score_clips(cfg, registry, run.train_inputs(), inputs))
    protocols = list(dataset.protocols)
    metrics = {"run_id": run.info["run_id"], "config": cfg, "official_protocol": protocols[0],
               "protocols": compute_all(frame, protocols, dataset=cfg.dataset)}
    tag = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:8]
    out = run.folder.eval_dir(tag)
    run.folder.write_scores(frame, out / RunDir.SCORES)
    RunDir.write_json(out / RunDir.METRICS, metrics)
    metrics["eval_dir"] = str(out)
    return metrics
