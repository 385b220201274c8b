"""The resumable training state on disk (``state.pt``): written atomically every epoch, read
back with ``weights_only=True`` (tensors, numbers and strings only: no code is unpickled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from asdbench.atomic import atomic_path
from asdbench.registry import AsdbenchError


def save(state: dict[str, Any], path: Path) -> None:
    """Write a training state (``TrainState.state_dict``) so a reader never sees half of it."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: Path, run_id: str) -> dict[str, Any]:
    """The training state at ``path``, which must belong to run ``run_id``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("run_id") != run_id:
        raise AsdbenchError(f"{path}: checkpoint belongs to run {state.get('run_id')}, "
                            f"not {run_id}")
    return state
