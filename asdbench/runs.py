"""Reading finished runs back: the model, its classes and what its scorer was fitted on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from asdbench.data import AudioSpec
from asdbench.engine import EMBEDDINGS_FILE, MODEL_FILE, select_device
from asdbench.model import ASDModel, build_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError, Registry
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

    def train_inputs(self) -> ScoringInputs:
        saved = load_file(str(self.run_dir / EMBEDDINGS_FILE))
        n = len(saved["class_index"])
        return ScoringInputs(
            embeddings=saved["embeddings"].numpy(),
            logits=np.zeros((n, len(self.classes)), np.float32),
            class_index=saved["class_index"].numpy(),
            domain=np.where(saved["is_target"].numpy(), "target", "source").astype(object),
        )


def load_run(run_dir: str | Path, device: str = "auto",
             registry: Registry | None = None) -> LoadedRun:
    """Rebuild a finished run's model from its ``config.json`` and safetensors weights."""
    run_dir = Path(run_dir)
    info_path = run_dir / "config.json"
    if not info_path.exists():
        raise AsdbenchError(f"{run_dir}: not a run folder (no config.json)")
    if not (run_dir / MODEL_FILE).exists():
        raise AsdbenchError(f"{run_dir}: the run has no trained model yet ({MODEL_FILE} missing)")
    info = json.loads(info_path.read_text())
    registry = registry or get_registry()
    dev = select_device(device)
    model = build_model(info["config"], registry, AudioSpec(**info["audio"]),
                        len(info["classes"])).to(dev)
    try:
        model.load_state_dict(load_file(str(run_dir / MODEL_FILE), device=str(dev)))
    except (RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise AsdbenchError(f"{run_dir / MODEL_FILE}: incompatible checkpoint: {first}") from None
    model.eval()
    return LoadedRun(run_dir, info, model, dev)


def class_of_path(path: Path, classes: list[str], machine_type: str | None = None,
                  machine_id: str | None = None) -> str:
    """The ``type/id`` class of a WAV file from options, its name (``id_XX``) and its folders."""
    types = {c.split("/")[0] for c in classes}
    if machine_type is None:
        machine_type = next((p for p in reversed(path.parts[:-1]) if p in types), None)
    if machine_id is None:
        m = _ID_PATTERN.search(path.stem)
        machine_id = m.group(1) if m else None
    if machine_type is None and machine_id is not None:
        owners = [c.split("/")[0] for c in classes if c.split("/")[1] == machine_id]
        machine_type = owners[0] if len(owners) == 1 else None
    key = f"{machine_type}/{machine_id}"
    if key not in classes:
        raise AsdbenchError(
            f"{path}: cannot tell its machine class (got type={machine_type}, id={machine_id}); "
            f"pass --type and --id; the run knows {', '.join(classes)}")
    return key
