"""Scoring through an exported model file (``asdbench export``): its sidecar checked, a run's
test set scored (``asdbench eval --exported``).

The evaluation is the run's own, with the file in place of the run's model and scorer: the
same test clips and decision rule, thresholds fitted on the file's scores of the run's
training clips (a scorer that scores training clips held out, as k-NN does, gives them their
in-sample scores here). Each clip is scored alone, one call per clip, as a deployment scores
a clip as it arrives: the scores are then bit for bit those a user gets from the file. (An
int8 export's activation ranges are fixed, so batches give the same scores up to float
rounding; see :mod:`asdbench.quantize`.) It is written as an evaluation of the run,
``RUN/eval/exported-<precision>-<hash>/``, with ``export.format`` and ``export.precision`` in
its config, so that the leaderboard shows it as a row of its own beside the run's.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asdbench.cache import load_waveforms
from asdbench.config import resolve
from asdbench.data import TEST, TRAIN, AudioSpec
from asdbench.export import file_sha256
from asdbench.metrics.compute import protocol_registry
from asdbench.metrics.decision import DecisionRule, fit_thresholds
from asdbench.metrics.sets import decided_metrics
from asdbench.plugins import default_plugins, get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.evaluate import clip_sets, scores_frame
from asdbench.run.rundir import RunDir
from asdbench.run.service import check_writable

BATCH = 1  # clips per call of the exported model: one, as a deployment scores a clip
EXPORT_KEYS = ("export.format", "export.precision")


class ExportedModel:
    """An exported scoring model, loaded once its sidecar (``<file>.json``) matches its bytes.

    Call it with float32 waveforms ``[B, L]``: it returns the scores ``[B, K]`` (columns in
    the order of ``meta["classes"]``) as a NumPy array. ``threads`` sets the CPU threads
    (ONNX Runtime's intra-op threads, torch's for TorchScript); None leaves the default.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.meta = read_sidecar(self.path)
        self.format = str(self.meta.get("format"))
        self.precision = str(self.meta.get("precision", "fp32"))
        if self.format == "onnx":
            import onnxruntime as ort  # noqa: PLC0415 - optional extra

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
        elif self.format == "torchscript":
            if threads:
                torch.set_num_threads(threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is marked deprecated
                self._module = torch.jit.load(str(self.path), map_location="cpu")
        else:
            raise AsdbenchError(f"{sidecar_of(self.path)}: unknown format '{self.format}'; "
                                "export the run again")

    def __call__(self, waves: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(waves, dtype=np.float32)
        if self.format == "onnx":
            return self._session.run(None, {"wave": x})[0]
        with torch.no_grad():
            return self._module(torch.from_numpy(x)).numpy()


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The sidecar of an exported model, checked against the model's bytes (its ``sha256``);
    a missing, unreadable or mismatched one is a one-line error."""
    path = Path(path)
    side = sidecar_of(path)
    again = "run asdbench export again"
    if not path.is_file():
        raise AsdbenchError(f"{path}: no such exported model file")
    if not side.is_file():
        raise AsdbenchError(f"{path}: its sidecar {side.name} is missing (an interrupted "
                            f"export?); {again}")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AsdbenchError(f"{side}: unreadable ({type(exc).__name__}); {again}") from None
    if not isinstance(meta, dict):
        raise AsdbenchError(f"{side}: not a JSON object; {again}")
    if "sha256" not in meta:
        raise AsdbenchError(f"{side}: holds no sha256 of its model (an export made before "
                            f"the hash was kept); {again}")
    if meta["sha256"] != file_sha256(path):
        raise AsdbenchError(f"{path}: does not match its sidecar {side.name} (another "
                            f"export's model, or an interrupted one); {again}")
    return meta


def own_scores(model: ExportedModel, waves: np.ndarray, class_index: np.ndarray,
               batch: int = BATCH) -> np.ndarray:
    """Each clip's score at its own class: ``waves`` (int16 as the cache holds them, or
    float) through ``model`` ``batch`` clips per call."""
    scale = 1.0 / 32768.0 if np.issubdtype(np.asarray(waves[:0]).dtype, np.integer) else 1.0
    out = np.empty(len(class_index), dtype=np.float64)
    for start in range(0, len(class_index), batch):
        x = np.asarray(waves[start:start + batch], dtype=np.float32) * np.float32(scale)
        got = model(x)
        out[start:start + len(x)] = got[np.arange(len(x)), class_index[start:start + len(x)]]
    return out


def evaluate_exported(run_dir: str | Path, file: str | Path, *, progress: bool = True,
                      threads: int | None = None) -> dict[str, Any]:
    """Metrics of a run's test set scored through the exported model ``file`` (of that run),
    written to ``RUN/eval/exported-<precision>-<sha256[:8]>/`` (``scores.csv``,
    ``metrics.json``); the returned metrics hold ``eval_dir`` too."""
    folder = RunDir(run_dir)
    info = folder.read_run_info()
    model = ExportedModel(file, threads)
    meta = model.meta
    if meta.get("run_id") != info["run_id"]:
        raise AsdbenchError(f"{file}: exported from run {meta.get('run_id')}, not from "
                            f"{info['run_id']} ({folder.path})")
    if list(meta.get("classes", [])) != list(info["classes"]):
        raise AsdbenchError(f"{file}: its classes differ from the run's; export it again")
    check_writable(folder.path / RunDir.EVAL)
    registry = get_registry()
    cfg = resolve(dict(info["config"]), registry)
    audio = AudioSpec(**info["audio"])
    dataset = registry.create("dataset", cfg.dataset, cfg.options("dataset"))
    clips = dataset.clips()
    test = [c for c in clips if c.split == TEST and c.label is not None]
    train = [c for c in clips if c.split == TRAIN]
    if not test or not train:
        raise AsdbenchError(f"dataset '{cfg.dataset}' has no labelled test clips or no "
                            "training clips; check the run's data.root")
    index = {k: i for i, k in enumerate(info["classes"])}
    scored = {}
    for name, part in (("test", test), ("train", train)):
        waves = load_waveforms(part, audio, progress=progress)
        classes = np.array([index.get(c.class_key, -1) for c in waves.clips])
        if (classes < 0).any():
            unknown = sorted({c.class_key for c, k in zip(waves.clips, classes, strict=True)
                              if k < 0})
            raise AsdbenchError(f"{name} clips of classes the run was not trained on: "
                                f"{', '.join(unknown)}")
        scored[name] = scores_frame(waves.clips, own_scores(model, waves.waves, classes))
        if name == "test":
            scored[name] = scored[name].assign(set=clip_sets(waves.clips))
    rule = DecisionRule.from_config(cfg)
    decided, by_set = decided_metrics(scored["test"], fit_thresholds(scored["train"], rule),
                                      rule, list(dataset.protocols), cfg.dataset,
                                      protocol_registry(registry.plugins or default_plugins()))
    trained = folder.read_metrics() or {}
    exported = {"export.format": model.format, "export.precision": model.precision}
    metrics = {"run_id": info["run_id"], "config": {**cfg, **exported}, **by_set,
               "best_epoch": trained.get("best_epoch"), "epochs": trained.get("epochs"),
               "evaluated": {"exported": str(model.path), "sha256": meta["sha256"],
                             "format": model.format, "precision": model.precision,
                             "quantization": meta.get("quantization"),
                             "scorer": cfg.scorer, "scorer_options": cfg.options("scorer"),
                             "overrides": {}}}
    out = folder.eval_dir(f"exported-{model.precision}-{meta['sha256'][:8]}")
    folder.write_scores(decided.drop(columns="decision"), out / RunDir.SCORES)
    RunDir.write_json(out / RunDir.METRICS, metrics)
    metrics["eval_dir"] = str(out)
    return metrics
