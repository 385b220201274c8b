"""What the files of a run folder must hold to be used (:class:`asdbench.run.rundir.RunDir`
reads them): each check says what is wrong, or None. Standard library only at module level."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asdbench.scoring import ScoringInputs


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
