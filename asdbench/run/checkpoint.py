"""The resumable training state on disk (``state.pt``): written atomically every epoch, read
back with ``weights_only=True`` (tensors, numbers and strings only: no code is unpickled)."""

from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from asdbench.atomic import atomic_path
from asdbench.registry import AsdbenchError
from asdbench.run.rundir import load_error_detail

# What TrainState.state_dict writes, and the type each entry must have.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "epoch": int, "best": (int, float), "best_epoch": int, "model": dict,
    "ema": dict, "optimizer": dict, "scheduler": dict, "torch_rng": torch.Tensor,
    "ema_steps": int, "numpy_rng": str}
# Written only by a method with training stages: the stage its optimiser state belongs to.
OPTIONAL_FIELDS: dict[str, type] = {"stage": int}


_WRITE_FAILURES = ("write failed", "unexpected pos", "No space left")


def save(state: dict[str, Any], path: Path) -> None:
    """Write a training state (``TrainState.state_dict``) so a reader never sees half of it.

    Written through a file object, so the zip's folder name is torch's fixed ``archive``
    (not the temporary file's name): equal states give byte-identical files.

    torch's zip writer reports a full disk as a ``RuntimeError`` ("file write failed",
    "unexpected pos ..."): that one becomes the ``OSError`` it is, which the command line
    names in one line (no space left, which file); the previous checkpoint stays intact."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            torch.save(state, fh)
    except RuntimeError as exc:
        if not any(sign in str(exc) for sign in _WRITE_FAILURES):
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None


def unusable(path: Path, what: str) -> AsdbenchError:
    """The error for a checkpoint that cannot be resumed: names it and how to start again."""
    return AsdbenchError(f"{path}: {what}; delete it (or the run folder) and rerun without "
                         "--resume to start the run again")


def load(path: Path, run_id: str) -> dict[str, Any]:
    """The training state at ``path``, which must belong to run ``run_id``; a corrupt, foreign
    or tampered file is a one-line error (torch's own text would advise unsafe loading)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise unusable(path, "not a checkpoint asdbench wrote: corrupt, or holding objects "
                             "other than tensors, numbers and strings (refused, nothing "
                             "unpickled)") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile):
        raise unusable(path, "corrupt checkpoint (truncated or not a torch file)") from None
    if not isinstance(state, dict):
        raise unusable(path, f"not a training state (a {type(state).__name__})")
    wrong = [k for k, t in FIELDS.items()
             if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    wrong += [k for k, t in OPTIONAL_FIELDS.items() if k in state
              and (not isinstance(state[k], t) or isinstance(state[k], bool))]
    if wrong:
        raise unusable(path, f"not a training state of this version (bad {', '.join(wrong)})")
    if state["run_id"] != run_id:
        raise unusable(path, f"checkpoint of run {state['run_id']}, not {run_id}")
    return state


def restore(target: Any, path: Path, run_id: str) -> None:
    """Load the training state at ``path`` into ``target`` (a ``TrainState``); one whose
    tensors do not fit the run's model or optimiser is an error naming the file."""
    state = load(path, run_id)
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise unusable(path, f"does not fit the run's model ({load_error_detail(exc)})") from None
