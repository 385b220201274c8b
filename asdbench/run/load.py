"""Reading finished runs back: the model, its classes and what its scorer was fitted on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from asdbench.data import AudioSpec
from asdbench.model import ASDModel, build_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError, Registry
from asdbench.run.device import select_device
from asdbench.run.rundir import RERUN, RunDir, load_error_detail
from asdbench.scoring import ScoringInputs

_ID_PATTERN = re.compile(r"(?:^|_)(?:id|section)_(\d+)")


@dataclass
class LoadedRun:
    run_dir: Path
    info: dict[str, Any]
    model: ASDModel
    device: torch.device

    @property
    def config(self) -> dict[str, Any]:
        return self.info["config"]

    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def audio(self) -> AudioSpec:
        return AudioSpec(**self.info["audio"])

    @property
    def folder(self) -> RunDir:
        return RunDir(self.run_dir)

    def train_inputs(self) -> ScoringInputs:
        """What the run's scorer was fitted on, as the run saved it (checked against the
        run's classes)."""
        folder = self.folder
        inputs = folder.load_train_inputs()
        if inputs.logits.shape[1] != len(self.classes):
            raise folder.damaged(folder.train_inputs_path,
                                 f"{inputs.logits.shape[1]} classes, the run has "
                                 f"{len(self.classes)}")
        return inputs


def load_run(run_dir: str | Path, device: str = "auto",
             registry: Registry | None = None) -> LoadedRun:
    """Rebuild a finished run's model from its ``config.json`` and safetensors weights."""
    folder = RunDir(run_dir)
    info = folder.read_run_info()
    if not folder.model_path.exists():
        raise folder.unfinished(f"the run has no trained model yet ({RunDir.MODEL} missing)")
    registry = registry or get_registry()
    dev = select_device(device)
    try:
        model = build_model(info["config"], registry, AudioSpec(**info["audio"]),
                            len(info["classes"]), class_names=info["classes"]).to(dev)
    except (KeyError, TypeError, ValueError) as exc:
        raise folder.damaged(folder.config_path, f"its config cannot rebuild the model "
                                                 f"({type(exc).__name__}: {exc})") from None
    weights = folder.load_model(dev)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, SafetensorError) as exc:
        raise AsdbenchError(f"{folder.model_path}: weights do not fit the run's model "
                            f"({load_error_detail(exc)}); {RERUN}") from None
    model.eval()
    return LoadedRun(folder.path, info, model, dev)


def machine_class(path: Path, classes: list[str], machine_type: str | None = None,
                  machine_id: str | None = None) -> tuple[str | None, str | None]:
    """The ``(type, id)`` of an audio file from options, its name (``id_XX``) and its
    folders; either is None when it cannot be told."""
    types = {c.split("/")[0] for c in classes}
    if machine_type is None:
        machine_type = next((p for p in reversed(path.parts[:-1]) if p in types), None)
    if machine_id is None:
        m = _ID_PATTERN.search(path.stem)
        machine_id = m.group(1) if m else None
    if machine_type is None and machine_id is not None:
        owners = [c.split("/")[0] for c in classes if c.split("/")[1] == machine_id]
        machine_type = owners[0] if len(owners) == 1 else None
    return machine_type, machine_id


def class_of_path(path: Path, classes: list[str], machine_type: str | None = None,
                  machine_id: str | None = None) -> str:
    """The ``type/id`` class of an audio file (see :func:`machine_class`), one of ``classes``;
    else an error saying what to pass."""
    machine_type, machine_id = machine_class(path, classes, machine_type, machine_id)
    key = f"{machine_type}/{machine_id}"
    if key not in classes:
        raise AsdbenchError(
            f"{path}: cannot tell its machine class (got type={machine_type}, id={machine_id}); "
            f"pass --type and --id; the run knows {', '.join(classes)}")
    return key
