"""Using a trained run: score new recordings (``asdbench score``) or re-evaluate it on a test
split (``asdbench eval``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asdbench.atomic import unwritable_reason
from asdbench.audio import AudioError, read_clip
from asdbench.cache import load_features, load_waveforms
from asdbench.config import resolve
from asdbench.data import TEST, Clip
from asdbench.metrics import compute_all
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.evaluate import embed, embed_split, score_clips, scores_frame
from asdbench.run.rundir import RunDir
from asdbench.run.tensors import Batch, feature_fn, to_split
from asdbench.runs import LoadedRun, load_run, machine_class
from asdbench.scoring import ScoringInputs
from asdbench.sdk.datasets import AUDIO_SUFFIXES

SCORE_BATCH = 64  # clips decoded and scored at a time by `asdbench score`
NO_CLASS = "no machine class"  # the error category of a file whose class cannot be told


class DecodedClips:
    """One chunk of decoded clips of ``asdbench score``, with their features computed as the
    cache computes them (no autocast)."""

    def __init__(self, waves: np.ndarray, frontend: torch.nn.Module,
                 labels: torch.Tensor) -> None:
        self.waves, self.frontend, self.labels = waves, frontend, labels

    def __len__(self) -> int:
        return len(self.waves)

    def batch(self, idx: torch.Tensor, device: torch.device) -> Batch:
        wave = torch.from_numpy(self.waves[idx.numpy()]).to(device)
        feats = self.frontend.features(wave).float()
        return wave, feats, self.labels[idx.to(self.labels.device)]


def audio_files_in(paths: Iterable[str | Path]) -> list[Path]:
    """The files named by ``paths``: files as given, folders searched recursively for every
    audio format the datasets read (``.wav``, ``.flac``, any letter case)."""
    paths = list(paths)
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()))
        elif p.exists():
            files.append(p)
        else:
            raise AsdbenchError(f"{p}: no such file or folder")
    if not files:
        kinds = "/".join(AUDIO_SUFFIXES)
        raise AsdbenchError(f"no audio files ({kinds}) in {', '.join(map(str, paths))}")
    return files


def score_files(run_dir: str | Path, paths: Iterable[str | Path], *,
                machine_type: str | None = None, machine_id: str | None = None,
                device: str = "auto") -> pd.DataFrame:
    """Anomaly score of each audio file under ``paths`` with the run's model and scorer.

    One row per file; a file that cannot be scored (unreadable, too short, silent, NaN, no
    machine class) has an empty score and says why in ``error`` (``""`` for scored files).
    """
    run = load_run(run_dir, device)
    files = audio_files_in(paths)
    rows = []
    for f in files:
        mtype, mid = machine_class(f, run.classes, machine_type, machine_id)
        known = f"{mtype}/{mid}" in run.classes
        rows.append({"file": str(f), "machine_type": mtype or "", "machine_id": mid or "",
                     "error": "" if known else
                     f"{NO_CLASS}: got type={mtype}, id={mid}; pass --type and --id"})
    scored, embs, logits = [], [], []
    todo = [i for i, r in enumerate(rows) if not r["error"]]
    for start in range(0, len(todo), SCORE_BATCH):
        kept, waves = [], []
        for i in todo[start:start + SCORE_BATCH]:
            try:
                waves.append(read_clip(files[i], run.audio))
                kept.append(i)
            except AudioError as exc:
                rows[i]["error"] = exc.problem
        if not kept:
            continue
        labels = torch.tensor([run.classes.index(f"{rows[i]['machine_type']}/"
                                                 f"{rows[i]['machine_id']}") for i in kept])
        chunk = DecodedClips(np.stack(waves), run.model.frontend, labels.to(run.device))
        e, lg = embed(run.model, chunk, run.device, run.config["train.amp"],
                      batch_size=SCORE_BATCH)
        scored += kept
        embs.append(e)
        logits.append(lg)
    frame = pd.DataFrame(rows)
    frame.insert(3, "score", np.nan)
    if scored:
        classes = [run.classes.index(f"{rows[i]['machine_type']}/{rows[i]['machine_id']}")
                   for i in scored]
        test = ScoringInputs(embeddings=np.concatenate(embs), logits=np.concatenate(logits),
                             class_index=np.array(classes),
                             domain=np.array([""] * len(scored), dtype=object))
        frame.loc[scored, "score"] = fitted_scores(run, run.config, get_registry(), test)
    return frame


def score_summary(frame: pd.DataFrame) -> str:
    """One line: how many files were scored, and the failures counted by reason."""
    failed = frame["error"][frame["error"] != ""]
    line = f"scored {len(frame) - len(failed)} of {len(frame)} files"
    if len(failed):
        counts = Counter(failed.str.split(":").str[0])
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        causes = ", ".join(f"{n} {cause}" for cause, n in ranked)
        line += f"; {len(failed)} failed ({causes}): see the error column"
    return line


def fitted_scores(run: LoadedRun, cfg: Any, registry: Any, test: ScoringInputs) -> np.ndarray:
    """``test`` scored by the run's scorer fitted on the run's saved training inputs (whose
    embeddings must be the model's)."""
    train = run.train_inputs()
    if train.embeddings.shape[1] != test.embeddings.shape[1]:
        raise run.folder.damaged(run.folder.train_inputs_path,
                                 f"embeddings of size {train.embeddings.shape[1]}, the model "
                                 f"gives {test.embeddings.shape[1]}")
    return score_clips(cfg, registry, train, test)


def check_writable(folder: Path) -> None:
    """Fail before decoding anything when ``asdbench eval`` could not write its results."""
    reason = unwritable_reason(folder)
    if reason is not None:
        raise AsdbenchError(f"cannot write the eval results to {folder}: {reason}; make the "
                            "run folder writable, or evaluate a copy of it")


def eval_config(run: LoadedRun, overrides: dict[str, Any], registry: Any) -> Any:
    """The run's config with ``overrides``: another dataset drops the run's ``data.*``
    settings, another scorer the run's ``scorer.*`` options (they belong to the old one)."""
    base = dict(run.config)
    for kind, prefix in (("dataset", "data."), ("scorer", "scorer.")):
        if kind in overrides and overrides[kind] != base.get(kind):
            base = {k: v for k, v in base.items() if not k.startswith(prefix)}
    return resolve({**base, **overrides}, registry)


def evaluate_run(run_dir: str | Path, overrides: dict[str, Any], *, device: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """Metrics of a trained run on a dataset's test split (by default its own), scored by
    the run's scorer or another one, written to the run folder's ``eval/<scorer>[-<hash>]/``
    (:meth:`RunDir.rescore_dir`) where the leaderboard finds them as rows of the run.

    The returned metrics hold ``eval_dir`` (where they were written) and ``evaluated`` (the
    scorer, its options and the overrides)."""
    registry = get_registry()
    run = load_run(run_dir, device, registry)
    check_writable(run.folder.path / RunDir.EVAL)
    cfg = eval_config(run, overrides, registry)
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
    frame = scores_frame(test.clips, fitted_scores(run, cfg, registry, inputs))
    protocols = list(dataset.protocols)
    trained = run.folder.read_metrics() or {}
    metrics = {"run_id": run.info["run_id"], "config": cfg, "official_protocol": protocols[0],
               "protocols": compute_all(frame, protocols, dataset=cfg.dataset),
               "best_epoch": trained.get("best_epoch"), "epochs": trained.get("epochs"),
               "evaluated": {"scorer": cfg.scorer, "scorer_options": cfg.options("scorer"),
                             "overrides": overrides}}
    out = run.folder.rescore_dir(cfg.scorer, overrides)
    run.folder.write_scores(frame, out / RunDir.SCORES)
    RunDir.write_json(out / RunDir.METRICS, metrics)
    metrics["eval_dir"] = str(out)
    return metrics
