"""A run folder, ``RESULTS/runs/<run-id>/``: the one place that knows its files.

=============================== ==========================================================
``config.json``                 run id, resolved config, classes, audio, data, provenance
``train_log.jsonl``             one JSON line per finished epoch
``state.pt``                    resumable training state (``weights_only``-loadable)
``model.safetensors``           the selected (EMA) model weights
``train_embeddings.safetensors`` what the scorer is fitted on (embeddings, logits, labels,
                                domains)
``scores.csv``                  one row per test clip, its test set in column ``set``
``submission/``                 the official protocol's submission files
``metrics.json``                written last: the run is finished when it holds the run's id;
                                ``checksums`` holds the SHA-256 of the model and scorer inputs
``eval/<name>/``                ``asdbench eval`` results (``scores.csv``, ``metrics.json``):
                                ``<scorer>``, or ``<scorer>-<hash of the other settings>``
=============================== ==========================================================

torch is imported only where model weights are read or written: the matrix and the leaderboard
read run folders without torch. One training at a time writes a folder (:meth:`RunDir.training_lock`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file as save_numpy

from asdbench.atomic import atomic_path, atomic_write_text, sweep_temp_files
from asdbench.claims import Claim, Claims, Heartbeat, describe_holder, held_for_this_process
from asdbench.data import DEFAULT_SET
from asdbench.registry import AsdbenchError
from asdbench.scoring import ScoringInputs

# How to recover from a damaged file of a finished run (its inputs are gone with it).
RERUN = "delete the run folder and rerun `asdbench run` with the same settings"

if TYPE_CHECKING:
    import torch


def json_default(obj: Any) -> Any:
    """JSON for what ``json`` cannot write: numpy scalars as numbers, mappings (a run config)
    as objects, anything else as its string."""
    if isinstance(obj, Mapping):
        return dict(obj)
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return item()
    return str(obj)


class RunDir:
    """Paths, writers and readers of one run folder (the folder need not exist yet)."""

    CONFIG = "config.json"
    LOG = "train_log.jsonl"
    STATE = "state.pt"
    MODEL = "model.safetensors"
    TRAIN_INPUTS = "train_embeddings.safetensors"
    SCORES = "scores.csv"
    SUBMISSION = "submission"
    METRICS = "metrics.json"
    EVAL = "eval"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_run(cls, results: str | Path, run_id: str) -> RunDir:
        """The folder of run ``run_id`` under a results folder."""
        return cls(Path(results) / "runs" / run_id)

    @classmethod
    def all_in(cls, results: str | Path) -> list[RunDir]:
        """Every run folder under a results folder, sorted by name (finished or not)."""
        runs = Path(results) / "runs"
        return [cls(p) for p in sorted(runs.iterdir()) if p.is_dir()] if runs.is_dir() else []

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @contextmanager
    def training_lock(self, owner: str = "asdbench run") -> Iterator[None]:
        """Hold the run's claim (``RESULTS/claims/<run-id>.claim``, the matrix's mechanism)
        while training into this folder; a claim another live process holds is a one-line
        error naming it. A matrix's cell trains under the claim its matrix took for it, and
        keeps it fresh while it trains. Temporary files a killed writer left in the folder
        are removed once it is held."""
        claims = Claims(self.path.parent.parent, owner=owner)
        info = claims.holder(self.name)
        own = not held_for_this_process(info)
        if not own:  # kept fresh while this process trains; released by the matrix
            claims.held[self.name] = Claim(claims.path(self.name), info or {})
        elif claims.acquire(self.name) is None:
            raise AsdbenchError(f"{self.path}: {describe_holder(claims.holder(self.name))} is "
                                "training this run; wait for it to finish, then run again")
        heartbeat = Heartbeat(claims)
        heartbeat.start()
        try:
            sweep_temp_files(self.path)
            yield
        finally:
            heartbeat.stop.set()
            if own:
                claims.release_all()

    # --- paths ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def log_path(self) -> Path:
        return self.path / self.LOG

    @property
    def state_path(self) -> Path:
        return self.path / self.STATE

    @property
    def model_path(self) -> Path:
        return self.path / self.MODEL

    @property
    def train_inputs_path(self) -> Path:
        return self.path / self.TRAIN_INPUTS

    @property
    def scores_path(self) -> Path:
        return self.path / self.SCORES

    @property
    def submission_dir(self) -> Path:
        return self.path / self.SUBMISSION

    def set_submission_dir(self, test_set: str, official: str) -> Path:
        """``submission/`` for the official test set, ``submission-<set>/`` for another."""
        if test_set == official:
            return self.submission_dir
        return self.path / f"{self.SUBMISSION}-{test_set}"

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    def eval_dir(self, tag: str) -> Path:
        """Where ``asdbench eval`` with settings tagged ``tag`` writes."""
        return self.path / self.EVAL / tag

    def rescore_dir(self, scorer: str, overrides: Mapping[str, Any]) -> Path:
        """Where ``asdbench eval`` with ``overrides`` (scored by ``scorer``) writes:
        ``eval/<scorer>`` when only the scorer changes, else ``eval/<scorer>-<hash>``, the
        hash of every other override (scorer options, another dataset, data settings), so
        that each combination keeps its own results."""
        rest = {k: v for k, v in overrides.items() if k != "scorer"}
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in scorer) or "scorer"
        if rest:
            blob = json.dumps(rest, sort_keys=True, default=str).encode()
            name += "-" + hashlib.sha256(blob).hexdigest()[:8]
        return self.eval_dir(name)

    def evaluations(self) -> list[Path]:
        """The ``eval/`` result folders that hold a ``metrics.json``, by name."""
        root = self.path / self.EVAL
        if not root.is_dir():
            return []
        return [p for p in sorted(root.iterdir()) if (p / self.METRICS).is_file()]

    # --- JSON files ------------------------------------------------------------------------

    @staticmethod
    def write_json(path: str | Path, obj: Any) -> Path:
        """``obj`` as indented JSON at ``path``, atomically."""
        return atomic_write_text(path, json.dumps(obj, indent=2, default=json_default))

    def write_config(self, info: dict[str, Any]) -> Path:
        return self.write_json(self.config_path, info)

    def read_config(self) -> dict[str, Any]:
        """``config.json``; a missing or unreadable one is an error naming the folder."""
        if not self.config_path.exists():
            raise AsdbenchError(f"{self.path}: not a run folder (no {self.CONFIG})")
        info = _read_json_object(self.config_path)
        if info is None:
            raise AsdbenchError(f"{self.config_path}: not a JSON object (corrupt run folder); "
                                f"{RERUN}")
        return info

    def data_problems(self) -> list[tuple[str, str]]:
        """``(clip or item, problem)`` of every data problem ``config.json`` recorded (clips
        skipped, clips changed); empty when there were none or the file cannot be read."""
        info = _read_json_object(self.config_path) if self.config_path.exists() else None
        problems = ((info or {}).get("data") or {}).get("problems") or []
        return [(str(p[0]), str(p[1])) for p in problems
                if isinstance(p, list | tuple) and len(p) == 2]

    def read_run_info(self) -> dict[str, Any]:
        """``config.json`` checked for what rebuilding the run needs (run id, config, classes,
        audio format); anything else is an error naming the file and how to recover."""
        info = self.read_config()
        problem = run_info_problem(info)
        if problem:
            raise AsdbenchError(f"{self.config_path}: {problem} (corrupt or from an "
                                f"incompatible version); {RERUN}")
        return info

    def unfinished(self, what: str) -> AsdbenchError:
        """The error for a run folder that lacks what a finished run has."""
        return AsdbenchError(f"{self.path}: {what}; finish it with `asdbench run --resume` "
                             f"and the same settings, or {RERUN}")

    def damaged(self, path: Path, what: str) -> AsdbenchError:
        """The error for a run file that cannot be used: names it and how to recover."""
        return AsdbenchError(f"{path}: {what}; {RERUN}")

    def write_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """``metrics.json``, the last file of a run: writing it marks the run finished.
        ``checksums`` records the SHA-256 of the model and scorer inputs it was computed
        with, which every later reader checks. Returns the metrics as written (plain JSON
        types, what :meth:`read_metrics` gives)."""
        sums = {p.name: file_sha256(p) for p in (self.model_path, self.train_inputs_path)
                if p.exists()}
        text = json.dumps({**metrics, "checksums": sums} if sums else metrics, indent=2,
                          default=json_default)
        atomic_write_text(self.metrics_path, text)
        return json.loads(text)

    def read_metrics(self) -> dict[str, Any] | None:
        """``metrics.json``, or None when it is missing or not a readable JSON object."""
        return _read_json_object(self.metrics_path)

    def is_finished(self, expected_run_id: str | None = None) -> bool:
        """Whether ``metrics.json`` is a readable JSON object, and (given ``expected_run_id``)
        one of that run."""
        metrics = self.read_metrics()
        if metrics is None:
            return False
        return expected_run_id is None or metrics.get("run_id") == expected_run_id

    def has_unfinished_state(self) -> bool:
        """A checkpoint without a finished run: ``asdbench run --resume`` continues it."""
        return self.state_path.exists() and not self.is_finished()

    def check_file(self, path: Path) -> None:
        """Refuse a model or scorer-inputs file that is not the one the run's
        ``metrics.json`` was computed with (another training replaced it)."""
        want = ((self.read_metrics() or {}).get("checksums") or {}).get(path.name)
        if isinstance(want, str) and file_sha256(path) != want:
            raise self.damaged(path, f"not the file this run's {self.METRICS} was computed "
                                     "with (its SHA-256 differs: replaced since, e.g. by "
                                     "another training)")

    # --- training log ----------------------------------------------------------------------

    def append_log(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to ``train_log.jsonl``, on disk before the checkpoint that
        follows it (fsynced)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _log_lines(self) -> list[str]:
        """The log's lines that are JSON objects: a line torn by a kill is left out."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if _json_object(line) is not None]

    def read_log(self) -> list[dict[str, Any]]:
        """Each logged epoch's record (a torn or garbled line left out)."""
        return [json.loads(line) for line in self._log_lines()]

    def keep_log(self, epochs: int) -> None:
        """Keep the first ``epochs`` records of the log (a resumed run: the finished epochs)."""
        lines = self._log_lines()[:epochs]
        atomic_write_text(self.log_path, "".join(line + "\n" for line in lines))

    def clear_log(self) -> None:
        self.log_path.unlink(missing_ok=True)

    def earlier_wall_time(self, trained_now: int) -> float:
        """Seconds the epochs of earlier parts of a resumed run took (``epoch_wall_s`` of every
        logged epoch but the last ``trained_now``, those of this part); 0 for a run in one
        part. A run's ``wall_time_s`` is this plus the time of its last part."""
        log = self.read_log()
        earlier = log[:max(len(log) - trained_now, 0)]
        return float(sum(r.get("epoch_wall_s") or 0.0 for r in earlier))

    # --- model and scoring inputs ----------------------------------------------------------

    def save_model(self, state_dict: Mapping[str, torch.Tensor]) -> Path:
        """The selected weights as safetensors (contiguous CPU copies)."""
        from safetensors.torch import save_file  # noqa: PLC0415 - torch: not for the matrix

        with atomic_path(self.model_path) as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()},
                      str(tmp))
        return self.model_path

    def load_model(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The state dict of ``model.safetensors`` on ``device``."""
        from safetensors.torch import load_file  # noqa: PLC0415 - torch: not for the matrix

        if not self.model_path.exists():
            raise self.unfinished(f"the run has no trained model yet ({self.MODEL} missing)")
        try:
            weights = load_file(str(self.model_path), device=str(device))
        except SafetensorError as exc:
            raise self.damaged(self.model_path, f"not a readable safetensors file "
                                                f"({_first_line(exc)})") from None
        self.check_file(self.model_path)
        return weights

    def save_train_inputs(self, inputs: ScoringInputs) -> Path:
        """What the scorer was fitted on; :meth:`load_train_inputs` gives it back unchanged
        (same arrays, same dtypes, same domains)."""
        arrays = {"embeddings": inputs.embeddings, "logits": inputs.logits,
                  "class_index": inputs.class_index}
        domain = [str(d) for d in inputs.domain]
        with atomic_path(self.train_inputs_path) as tmp:
            save_numpy({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp),
                      metadata={"domain": json.dumps(domain)})
        return self.train_inputs_path

    def load_train_inputs(self) -> ScoringInputs:
        """The scorer's training inputs as :meth:`save_train_inputs` wrote them; a damaged
        file is an error naming it and how to recover."""
        if not self.train_inputs_path.exists():
            raise self.unfinished(f"no {self.TRAIN_INPUTS} (run not finished?)")
        try:
            with safe_open(str(self.train_inputs_path), framework="numpy") as fh:
                saved = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - not a dict
                meta = fh.metadata() or {}
        except (SafetensorError, ValueError, TypeError) as exc:
            raise self.damaged(self.train_inputs_path, f"not a readable safetensors file "
                                                       f"({_first_line(exc)})") from None
        try:
            inputs = self._train_inputs(saved, meta)
        except (KeyError, ValueError, TypeError) as exc:
            raise self.damaged(self.train_inputs_path,
                               f"not the scorer inputs of a run ({_first_line(exc)})") from None
        problem = inputs_problem(inputs)
        if problem:
            raise self.damaged(self.train_inputs_path, problem)
        self.check_file(self.train_inputs_path)
        return inputs

    def _train_inputs(self, saved: dict[str, Any], meta: dict[str, str]) -> ScoringInputs:
        if "logits" not in saved:
            # written before logits and domains were kept: zero logits, source/target only
            shape = (len(saved["class_index"]), len(self.read_config()["classes"]))
            return ScoringInputs(saved["embeddings"], np.zeros(shape, np.float32),
                                 saved["class_index"],
                                 np.where(saved["is_target"], "target", "source").astype(object))
        domain = json.loads(meta["domain"])
        if not isinstance(domain, list):
            raise ValueError("its domain metadata is not a list")
        return ScoringInputs(saved["embeddings"], saved["logits"], saved["class_index"],
                             np.array(domain, dtype=object))

    # --- scores ----------------------------------------------------------------------------

    def write_scores(self, frame: pd.DataFrame, path: Path | None = None, *,
                     sets: Sequence[str] | None = None) -> Path:
        """The per-clip scores table (``scores.csv``, or ``path``), each clip's test set in
        its last column ``set`` (from ``sets``, else the frame's own): single-set runs too."""
        frame = frame if sets is None else frame.assign(set=list(sets))
        if "set" not in frame.columns:
            raise ValueError("a scores table needs each clip's test set (a 'set' column)")
        frame = frame[[c for c in frame.columns if c != "set"] + ["set"]]
        return atomic_write_text(path or self.scores_path, frame.to_csv(index=False))

    def read_scores(self, path: Path | None = None) -> pd.DataFrame | None:
        """``scores.csv`` (or ``path``; IDs, domains, sets as strings), or None when absent.
        A table older than its ``set`` column gets one: the one set the ``metrics.json``
        beside it names, or the default set when it names none; none when it names several
        (their clips cannot be told apart)."""
        path = path or self.scores_path
        if not path.exists():
            return None
        frame = pd.read_csv(path, dtype={"machine_id": str, "domain": str, "set": str},
                            encoding_errors="surrogateescape")
        sets = list((_read_json_object(path.parent / self.METRICS) or {}).get("sets") or {})
        if "set" in frame.columns or len(sets) > 1:
            return frame
        return frame.assign(set=sets[0] if sets else DEFAULT_SET)


def run_info_problem(info: dict[str, Any]) -> str | None:
    """What ``config.json`` lacks to rebuild the run, or None."""
    audio, classes = info.get("audio"), info.get("classes")
    if not isinstance(info.get("run_id"), str):
        return "no run_id"
    if not isinstance(info.get("config"), dict):
        return "no config object"
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) and c.count("/") == 1 for c in classes)):
        return "'classes' is not a list of 'type/id' names"
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        return f"'classes' names {dup} twice"
    if not isinstance(audio, dict) or not all(
            isinstance(audio.get(k), int | float) and not isinstance(audio.get(k), bool)
            and audio[k] > 0 for k in ("sample_rate", "clip_seconds")):
        return "'audio' lacks a positive sample_rate and clip_seconds"
    return None


def inputs_problem(inputs: ScoringInputs) -> str | None:
    """Why saved scorer inputs cannot be those of a run, or None (``ScoringInputs`` itself
    checks that the arrays have one row per clip)."""
    if not len(inputs.class_index):
        return "it holds no training clips"
    if inputs.class_index.min() < 0 or inputs.class_index.max() >= inputs.logits.shape[1]:
        return "its class indices do not match its logits"
    return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_error_detail(exc: BaseException, limit: int = 120) -> str:
    """The first specific line of a state-dict loading error (torch's first line is only
    ``Error(s) in loading state_dict for X:``), cut to ``limit`` characters."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None
