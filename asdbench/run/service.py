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
from asdbench.data import TEST, Clip
from asdbench.metrics.compute import protocol_registry
from asdbench.metrics.decision import (
    DecisionRule,
    false_alarm_rate,
    far_rule,
    fit_thresholds,
    heldout_thresholds,
    rule_label,
    training_scores,
)
from asdbench.metrics.sets import decided_metrics
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.evaluate import clip_sets, embed, embed_split, fit_scorer, scores_frame
from asdbench.run.evaluations import eval_config, evaluation_record, write_evaluation
from asdbench.run.load import LoadedRun, load_run, machine_class
from asdbench.run.rundir import RunDir
from asdbench.run.tensors import Batch, Split, feature_fn, to_split
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


def audio_files_in(paths: Iterable[str | Path], what: str = "") -> list[Path]:
    """The files named by ``paths``: files as given, folders searched recursively for every
    audio format the datasets read (``.wav``, ``.flac``, any letter case). ``what`` (e.g.
    ``--normal-clips``) starts an error's message."""
    paths = list(paths)
    lead = f"{what}: " if what else ""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()))
        elif p.exists():
            files.append(p)
        else:
            raise AsdbenchError(f"{lead}{p}: no such file or folder")
    if not files:
        kinds = "/".join(AUDIO_SUFFIXES)
        raise AsdbenchError(f"{lead}no audio files ({kinds}) in {', '.join(map(str, paths))}")
    return files


def score_files(run_dir: str | Path, paths: Iterable[str | Path], *,
                machine_type: str | None = None, machine_id: str | None = None,
                device: str = "auto", target_far: float | None = None,
                normal_clips: Iterable[str | Path] = ()) -> pd.DataFrame:
    """Anomaly score and decision of each audio file under ``paths`` with the run's model,
    scorer and decision threshold.

    One row per file: ``score``, ``decision`` (1 = anomaly: the score is above its class's
    ``threshold``) and ``threshold_rule`` (which rule, on which clips and how many). By
    default the threshold is fitted per machine class on the scores of the run's training
    clips, as the run's decision-result files, by the run's ``decision.*`` rule. With
    ``target_far`` F it is set at a false-alarm rate F: on ``normal_clips`` (the user's
    held-out normal recordings of each class, files or folders, scored as ``paths`` are) at
    :func:`asdbench.metrics.decision.heldout_threshold`; without them at the ``1 - F``
    quantile of the training clips' scores (those the model was trained on score lower than
    new normal clips, unless the scorer scores them held out as k-NN does, so new clips
    alarm more often than F). With ``normal_clips`` the column ``normal_far`` is the fraction
    of the class's held-out clips above its threshold, and ``attrs["normal_clips"]`` the
    :func:`score_summary` of those clips. A file that cannot be scored (unreadable, too
    short, silent, NaN, no machine class) has an empty score and decision and says why in
    ``error`` (``""`` for scored files); a held-out clip that cannot is left out.
    """
    far = None if target_far is None else far_rule(target_far)  # checked before any loading
    run = load_run(run_dir, device)
    files = audio_files_in(paths)
    normal_files = list(normal_clips)
    if normal_files:  # listed before any input file is decoded
        normal_files = audio_files_in(normal_files, "--normal-clips")
    frame, test = _embedded_frame(run, files, machine_type, machine_id)
    normal, held = (_embedded_frame(run, normal_files, machine_type, machine_id)
                    if normal_files else (None, None))
    frame.insert(3, "score", np.nan)
    frame.insert(4, "decision", pd.array([pd.NA] * len(frame), dtype="Int64"))
    frame.insert(5, "threshold", np.nan)
    frame.insert(6, "threshold_rule", "")
    if normal is not None:
        frame.insert(7, "normal_far", np.nan)
        normal["score"] = np.nan
    scored = list(frame.index[frame["error"] == ""])
    if scored:
        scorer, train = fitted_scorer(run, run.config, get_registry(), test)
        frame.loc[scored, "score"] = np.asarray(scorer.score(test), dtype=np.float64)
        keys = sorted(set(frame.loc[scored, "class"]))
        if held is not None:
            normal.loc[normal["error"] == "", "score"] = np.asarray(scorer.score(held),
                                                                    dtype=np.float64)
        limits = _thresholds(run, scorer, train, far, target_far, normal, keys)
        got = frame.loc[scored]
        frame.loc[scored, "threshold"] = [limits[k]["threshold"] for k in got["class"]]
        frame.loc[scored, "threshold_rule"] = [limits[k]["rule"] for k in got["class"]]
        frame.loc[scored, "decision"] = (frame.loc[scored, "score"]
                                         > frame.loc[scored, "threshold"]).astype(int)
        if normal is not None:
            frame.loc[scored, "normal_far"] = [limits[k].get("normal_far", np.nan)
                                               for k in got["class"]]
    if normal is not None:
        frame.attrs["normal_clips"] = score_summary(normal)
    return frame.drop(columns="class")


def _embedded_frame(run: LoadedRun, files: list[Path], machine_type: str | None,
                    machine_id: str | None) -> tuple[pd.DataFrame, ScoringInputs | None]:
    """The rows of ``files`` before scoring (:func:`_file_row`), and what the scorer receives
    for those that have a class and decode (in order; their ``error`` is ``""``)."""
    frame = pd.DataFrame([_file_row(f, run.classes, machine_type, machine_id) for f in files])
    _, inputs = _embed_files(run, files, frame)
    return frame, inputs


def _thresholds(run: LoadedRun, scorer: Any, train: ScoringInputs, far: DecisionRule | None,
                target_far: float | None, normal: pd.DataFrame | None,
                keys: list[str]) -> dict[str, dict[str, Any]]:
    """Each class's ``{"threshold", "rule"}`` (see :func:`score_files`), and with held-out
    normal clips ``normal`` (scored, columns ``class, score``) their ``normal_far``."""
    if far is not None and normal is not None:
        limits = heldout_thresholds(normal.loc[normal["error"] == ""], target_far, keys)
    else:
        rule = far or DecisionRule.from_config(run.config)
        limits = run_thresholds(run, training_scores(scorer, train), train, rule, keys)
        held_out = callable(getattr(scorer, "score_train", None))
        for fit in limits.values():
            fit["rule"] = rule_label(fit["fit"], rule, target_far, fit["n_train"], held_out)
    if normal is not None:
        ok = normal.loc[normal["error"] == ""]
        for key, fit in limits.items():
            own = ok.loc[ok["class"] == key, "score"].to_numpy(dtype=np.float64)
            fit["normal_far"] = false_alarm_rate(own, fit["threshold"])
    return limits


def _file_row(path: Path, classes: list[str], machine_type: str | None,
              machine_id: str | None) -> dict[str, str]:
    """A file's row of :func:`score_files` before scoring: its class, or the error saying it
    has none the run knows (``class``: ``type/id``, a working column)."""
    mtype, mid = machine_class(path, classes, machine_type, machine_id)
    key = f"{mtype}/{mid}"
    return {"file": str(path), "machine_type": mtype or "", "machine_id": mid or "",
            "error": "" if key in classes else
            f"{NO_CLASS}: got type={mtype}, id={mid}; pass --type and --id", "class": key}


def _embed_files(run: LoadedRun, files: list[Path],
                 frame: pd.DataFrame) -> tuple[list[int], ScoringInputs | None]:
    """Decode and embed the files of ``frame`` that have a class, a chunk at a time; a file
    that cannot be decoded gets its reason in ``error``. Returns the rows embedded and what
    the scorer receives for them (in that order)."""
    scored, embs, logits = [], [], []
    todo = [i for i in range(len(frame)) if not frame.at[i, "error"]]
    for start in range(0, len(todo), SCORE_BATCH):
        kept, waves = [], []
        for i in todo[start:start + SCORE_BATCH]:
            try:
                waves.append(read_clip(files[i], run.audio))
                kept.append(i)
            except AudioError as exc:
                frame.at[i, "error"] = exc.problem
        if not kept:
            continue
        labels = torch.tensor([run.classes.index(frame.at[i, "class"]) for i in kept])
        chunk = DecodedClips(np.stack(waves), run.model.frontend, labels.to(run.device))
        e, lg = embed(run.model, chunk, run.device, run.config["train.amp"],
                      batch_size=SCORE_BATCH)
        scored += kept
        embs.append(e)
        logits.append(lg)
    if not scored:
        return [], None
    classes = [run.classes.index(frame.at[i, "class"]) for i in scored]
    return scored, ScoringInputs(embeddings=np.concatenate(embs), logits=np.concatenate(logits),
                                 class_index=np.array(classes),
                                 domain=np.array([""] * len(scored), dtype=object))


def run_thresholds(run: LoadedRun, scores: np.ndarray, train: ScoringInputs,
                   rule: DecisionRule, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The decision threshold of each class in ``keys`` (``type/id``), fitted by ``rule`` on
    the ``scores`` of the run's training clips ``train`` of that class (``decision.per =
    "type"``: of every class of its type, as the run's own thresholds)."""
    names = np.asarray(run.classes, dtype=object)[train.class_index]
    table = pd.DataFrame({"class": names, "score": scores})
    parts = table["class"].str.split("/", n=1)
    table = table.assign(machine_type=parts.str[0], machine_id=parts.str[1])
    if rule.per == "type":
        table = table.loc[table["machine_type"].isin({k.split("/", 1)[0] for k in keys})]
    else:
        table = table.loc[table["class"].isin(keys)]
    fitted = fit_thresholds(table, rule)
    return {k: v for k, v in fitted.items() if k in keys}


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


def fitted_scorer(run: LoadedRun, cfg: Any, registry: Any,
                  test: ScoringInputs) -> tuple[Any, ScoringInputs]:
    """The run's scorer fitted on the run's saved training inputs (whose embeddings must be
    the model's, as ``test``'s are), and those inputs."""
    train = run.train_inputs()
    if train.embeddings.shape[1] != test.embeddings.shape[1]:
        raise run.folder.damaged(run.folder.train_inputs_path,
                                 f"embeddings of size {train.embeddings.shape[1]}, the model "
                                 f"gives {test.embeddings.shape[1]}")
    return fit_scorer(cfg, registry, train), train


def fitted_scores(run: LoadedRun, cfg: Any, registry: Any, test: ScoringInputs) -> np.ndarray:
    """``test`` scored by the run's scorer fitted on the run's saved training inputs."""
    scorer, _ = fitted_scorer(run, cfg, registry, test)
    return np.asarray(scorer.score(test), dtype=np.float64)


def check_writable(folder: Path) -> None:
    """Fail before decoding anything when ``asdbench eval`` could not write its results."""
    reason = unwritable_reason(folder)
    if reason is not None:
        raise AsdbenchError(f"cannot write the eval results to {folder}: {reason}; make the "
                            "run folder writable, or evaluate a copy of it")


def evaluate_run(run_dir: str | Path, overrides: dict[str, Any], *, device: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """Metrics of a trained run on a dataset's test split (by default its own), scored by
    the run's scorer or another one, written to the run folder's ``eval/<scorer>[-<hash>]/``
    (:meth:`RunDir.rescore_dir`) where the leaderboard finds them as rows of the run.

    As a run's own metrics: each test set apart (``sets``, the top-level ``protocols`` those
    of the primary set), with decisions from thresholds fitted by the run's ``decision.*``
    rule on the training clips' scores of the scorer used. The returned metrics hold
    ``eval_dir`` (where they were written) and ``evaluated`` (the scorer, its options and the
    overrides)."""
    registry = get_registry()
    run = load_run(run_dir, device, registry)
    check_writable(run.folder.path / RunDir.EVAL)
    cfg = eval_config(run.config, overrides, registry)
    dataset = registry.create("dataset", cfg.dataset, cfg.options("dataset"))
    test = _test_split(run, dataset, cfg.dataset, progress)
    inputs = embed_split(run.model, test, run.device, cfg.train.amp)
    scorer, train = fitted_scorer(run, cfg, registry, inputs)
    frame = scores_frame(test.clips, np.asarray(scorer.score(inputs), dtype=np.float64))
    rule = DecisionRule.from_config(cfg)
    thresholds = run_thresholds(run, training_scores(scorer, train), train, rule, run.classes)
    decided, by_set = decided_metrics(frame.assign(set=clip_sets(test.clips)), thresholds,
                                      rule, list(dataset.protocols), cfg.dataset,
                                      protocol_registry(registry.plugins))
    trained = run.folder.read_metrics() or {}
    metrics = evaluation_record(run.info["run_id"], cfg, overrides, by_set, trained)
    out = write_evaluation(run.folder, cfg, overrides, decided, metrics)
    metrics["eval_dir"] = str(out)
    return metrics


def _test_split(run: LoadedRun, dataset: Any, name: str, progress: bool) -> Split:
    """The labelled test clips of ``dataset``, decoded with their features; every one of a
    class the run was trained on (else a one-line error)."""
    clips: list[Clip] = [c for c in dataset.clips() if c.split == TEST and c.label is not None]
    if not clips:
        raise AsdbenchError(f"dataset '{name}' has no labelled test clips")
    waves = load_waveforms(clips, run.audio, progress=progress)
    fe = run.model.frontend
    feats = load_features(waves, feature_fn(fe, run.device), fe.feature_key, progress=progress)
    index = {k: i for i, k in enumerate(run.classes)}
    test = to_split(waves.clips, waves.waves, feats, index, run.device)
    known = test.labels.cpu().numpy() >= 0
    if not known.all():
        unknown = sorted({c.class_key for c, k in zip(test.clips, known, strict=True) if not k})
        raise AsdbenchError(f"test clips of classes the run was not trained on: {', '.join(unknown)}")
    return test
