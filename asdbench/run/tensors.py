"""A run's clips as tensors: decoded once (cached int16), featurised once (cached float32),
indexed per batch, resident on the GPU when they fit, and the one loop over them in batches."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from asdbench.cache import INT16_SCALE, WaveSet, load_features, load_waveforms
from asdbench.config import RunConfig
from asdbench.data import TEST, TRAIN, AudioSpec, Clip
from asdbench.registry import AsdbenchError, Registry

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # waveforms [B, L], features, labels [B]


class Batched(Protocol):
    """What :func:`iter_batches` reads: clips that give a batch for a tensor of indices."""

    def __len__(self) -> int: ...

    def batch(self, idx: torch.Tensor, device: torch.device) -> Batch: ...


@dataclass
class Split:
    """Waveforms (int16), cached features (float32) and class labels of a set of clips
    (label -1: a class the run was not trained on)."""

    clips: list[Clip]
    waves: torch.Tensor
    feats: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.clips)

    def batch(self, idx: torch.Tensor, device: torch.device) -> Batch:
        idx = idx.to(self.waves.device)
        wave = self.waves[idx].to(device, non_blocking=True).float().div_(INT16_SCALE)
        feats = self.feats[idx].to(device, non_blocking=True).float()
        return wave, feats, self.labels[idx].to(device, non_blocking=True)

    def subset(self, idx: np.ndarray) -> Split:
        t = torch.as_tensor(idx)
        return Split([self.clips[i] for i in idx], self.waves[t], self.feats[t], self.labels[t])

    def domains(self) -> np.ndarray:
        return np.array([c.domain for c in self.clips], dtype=object)


def iter_batches(source: Batched, batch_size: int, device: torch.device, *,
                 limit: int | None = None) -> Iterator[Batch]:
    """The batches of ``source`` in order (the last one may be short), of its first ``limit``
    clips when given: every inference pass (validation, BN statistics, embeddings, scoring)."""
    n = len(source) if limit is None else min(len(source), limit)
    for start in range(0, n, batch_size):
        yield source.batch(torch.arange(start, min(start + batch_size, n)), device)


def to_split(clips: Sequence[Clip], waves: Any, feats: Any, class_index: dict[str, int],
             device: torch.device) -> Split:
    """A :class:`Split` of decoded waveforms and features on ``device``."""
    labels = torch.tensor([class_index.get(c.class_key, -1) for c in clips], dtype=torch.long)
    with warnings.catch_warnings():  # read-only memmaps: only ever indexed (copied), never written
        warnings.simplefilter("ignore", UserWarning)
        w, f = torch.from_numpy(np.asarray(waves)), torch.from_numpy(np.asarray(feats))
    return Split(list(clips), w.to(device), f.to(device), labels.to(device))


def fits_on(device: torch.device, nbytes: int) -> bool:
    """Whether ``nbytes`` of data may live on ``device`` (on a GPU: under 60% of free memory)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < 0.6 * free


def feature_fn(frontend: nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batched, no-grad feature computation on the run's device (what the cache stores)."""

    @torch.no_grad()
    def fn(wave: torch.Tensor) -> torch.Tensor:
        return frontend.features(wave.to(device)).float().cpu()

    return fn


# --- a run's data -----------------------------------------------------------------------


@dataclass
class DecodedData:
    """A run's dataset with its train and test clips decoded (``load_waveforms``)."""

    dataset: Any
    train: WaveSet
    test: WaveSet
    classes: list[str]

    @property
    def audio(self) -> AudioSpec:
        return self.dataset.audio

    def data_root(self) -> str:
        return os.path.commonpath([str(c.path) for c in self.train.clips])

    def problems(self) -> list[list[str]]:
        reports = (self.dataset.report, self.train.report, self.test.report)
        return [list(p) for report in reports for p in report.problems]


@dataclass
class Splits:
    """Every training clip (``full``: what the scorer is fitted on), its train/validation
    parts, and the test clips."""

    full: Split
    train: Split
    val: Split
    test: Split


def decode_data(cfg: RunConfig, registry: Registry, progress: bool = True) -> DecodedData:
    """Dataset -> decoded, cached waveforms of its train and test clips, and the classes."""
    dataset = registry.create("dataset", cfg.dataset, cfg.options("dataset"))
    audio: AudioSpec = dataset.audio
    clips = dataset.clips()
    train_clips = [c for c in clips if c.split == TRAIN]
    if not train_clips:
        raise AsdbenchError(f"dataset '{cfg.dataset}' has no training clips")
    train_w = load_waveforms(train_clips, audio, progress=progress)
    classes = sorted({c.class_key for c in train_w.clips})
    # Unlabelled test clips (evaluation sets) are scored for the submission files and left out
    # of the metrics; clips of a machine never seen in training cannot be scored at all.
    known = set(classes)
    test_clips = [c for c in clips if c.split == TEST and c.class_key in known]
    unseen = sum(1 for c in clips if c.split == TEST and c.class_key not in known)
    if unseen:
        dataset.report.add(f"{unseen} test clips", "test clips of machines with no training "
                           "clips: skipped")
    if not test_clips:
        raise AsdbenchError(f"dataset '{cfg.dataset}' has no test clips of the machines it "
                            "trains on: nothing to evaluate (is <type>/test/ missing? see "
                            "asdbench data check)")
    test_w = load_waveforms(test_clips, audio, progress=progress)
    return DecodedData(dataset, train_w, test_w, classes)


def make_splits(data: DecodedData, frontend: nn.Module, cfg: RunConfig, device: torch.device,
                progress: bool = True) -> Splits:
    """Features of every clip (cached), the tensors on the device when they fit (else on the
    CPU), and the seeded train/validation split."""
    fn = feature_fn(frontend, device)
    train_f = load_features(data.train, fn, frontend.feature_key, progress=progress)
    test_f = load_features(data.test, fn, frontend.feature_key, progress=progress)
    nbytes = sum(a.nbytes for a in (data.train.waves, train_f, data.test.waves, test_f))
    data_device = device if fits_on(device, nbytes) else torch.device("cpu")
    class_index = {k: i for i, k in enumerate(data.classes)}
    full = to_split(data.train.clips, data.train.waves, train_f, class_index, data_device)
    test = to_split(data.test.clips, data.test.waves, test_f, class_index, data_device)
    tr_idx, va_idx = split_train_val(len(full), cfg.train.val_fraction, cfg.seed)
    return Splits(full, full.subset(tr_idx), full.subset(va_idx), test)


def split_train_val(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of the training clips (validation = normal clips only)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction)) if fraction > 0 else 0
    n_val = min(max(n_val, 1 if fraction > 0 and n > 2 else 0), n - 2)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
