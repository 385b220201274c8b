"""TensorBoard logging through the lifecycle hooks (entry point ``tensorboard`` of the
``asdbench`` group).

Off by default. On with one setting, the environment variable ``ASDBENCH_TENSORBOARD=DIR``:
each run then writes event files to ``DIR/<run-id>/`` (an environment variable rather than a
``--set`` key, so that it reaches every cell of a matrix, leaves run ids alone and, being
about where logs go rather than what is trained, never enters a run's config):

- at the start, the resolved config as text (``config``),
- per epoch, every number of the ``train_log.jsonl`` record as the scalar ``train/<field>``
  at ``step = epoch`` (``train/train_loss``, ``train/val_loss``, ``train/lr``, ...),
- at the end, the final metrics at ``step = epochs``: per protocol the averages
  (``metrics/<protocol>/average/auc``, ``.../pauc``, ...) and each machine type's
  (``metrics/<protocol>/<type>/auc``), and the run's ``best_epoch``, ``best_val_loss`` and
  ``wall_time_s`` (``run/<name>``).

``torch.utils.tensorboard`` (which needs the ``tensorboard`` package: ``pip install
'asdbench[tensorboard]'``) is imported on the first run with the variable set, never when the
plugin loads. View with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asdbench.sdk import AsdbenchError, hookimpl

ENV = "ASDBENCH_TENSORBOARD"
_writers: dict[str, Any] = {}  # run folder -> its open SummaryWriter


def log_root() -> Path | None:
    """The folder of ``ASDBENCH_TENSORBOARD`` (None: tracking is off)."""
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def epoch_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one ``train_log.jsonl`` record: every number but the epoch (the step)."""
    return {f"train/{k}": float(v) for k, v in record.items() if k != "epoch" and _number(v)}


def final_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalars of a run's ``metrics.json``: averages and machine types per protocol, and
    the run's summary numbers."""
    out: dict[str, float] = {}
    for protocol, pm in (metrics.get("protocols") or {}).items():
        groups = {"average": pm.get("average") or {}, **(pm.get("types") or {})}
        for group, values in groups.items():
            out.update({f"metrics/{protocol}/{group}/{name}": float(v)
                        for name, v in values.items() if _number(v)})
    for name in ("best_epoch", "best_val_loss", "wall_time_s"):
        if _number(metrics.get(name)):
            out[f"run/{name}"] = float(metrics[name])
    return out


def _writer(run_dir: Path) -> Any | None:
    """The run's writer (opened on first use), or None when tracking is off."""
    key = str(run_dir)
    if key in _writers:
        return _writers[key]
    root = log_root()
    if root is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise AsdbenchError(f"{ENV} is set but TensorBoard cannot be imported ({exc}); install "
                            "it with: pip install 'asdbench[tensorboard]'") from exc
    _writers[key] = SummaryWriter(log_dir=str(root / Path(run_dir).name))
    return _writers[key]


@hookimpl
def asdbench_run_started(config: dict, run_dir: Path) -> None:
    writer = _writer(run_dir)
    if writer is not None:
        text = json.dumps(config, indent=1, sort_keys=True, default=str)
        writer.add_text("config", f"```\n{text}\n```", global_step=0)  # markdown: verbatim
        writer.flush()


@hookimpl
def asdbench_epoch_end(run_dir: Path, record: dict) -> None:
    writer = _writer(run_dir)
    if writer is None:
        return
    step = int(record.get("epoch", 0))
    for tag, value in epoch_scalars(record).items():
        writer.add_scalar(tag, value, global_step=step)
    writer.flush()  # a run killed later keeps the epochs it logged


@hookimpl
def asdbench_run_finished(run_dir: Path, metrics: dict) -> None:
    writer = _writer(run_dir)
    if writer is None:
        return
    step = int(metrics.get("epochs") or 0)
    for tag, value in final_scalars(metrics).items():
        writer.add_scalar(tag, value, global_step=step)
    writer.close()
    _writers.pop(str(run_dir), None)
