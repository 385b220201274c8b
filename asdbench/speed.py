"""Optional speed-ups that leave the model as specified: same parameters, same FLOPs, same maths.

Only execution changes: memory layout, kernel choice, operator fusion, compilation. Each one
below is here because ``bench/`` measured a gain with it (``results/BENCHMARKS.md``):

- **channels-last** (NHWC) for the 2-D backbone: oneDNN's convolutions, depthwise ones above
  all, and its batch norm are faster in NHWC on CPU, and tensor cores want NHWC on GPU. The
  state dict is unchanged (``safetensors`` saves contiguous copies), so checkpoints are the same.
- **cuDNN autotuning** on CUDA (``torch.backends.cudnn.benchmark``): the long 1-D convolutions
  of TFgram/Tgram have fast algorithms that cuDNN's heuristics do not pick.
- **torch.compile** (opt-in): fuses BatchNorm/PReLU/elementwise chains; pays off on long runs
  only, since every new input shape or train/eval switch costs a compilation (its time:
  ``results/notes.md``).
- **frozen TorchScript** for inference (:func:`optimize_for_inference`): BatchNorm folded into
  the convolutions, oneDNN layouts, no autograd bookkeeping.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from asdbench.config import TrainSettings

APPLIED_ATTR = "asdbench_speed"  # list of the speed-ups applied, set on the returned model
# train.compile=auto compiles when a run is long enough to win back the compilation (a minute
# or two): the DCASE recipe's ~180,000 steps, not a few hundred steps of a CPU-sized run.
COMPILE_AUTO_MIN_STEPS = 5000


def speed_options(train: TrainSettings, total_steps: int | None = None) -> dict[str, Any]:
    """``prepare_for_speed`` keywords from ``train.channels_last`` / ``train.compile``.

    ``train.compile="auto"`` means compile when ``total_steps`` (optimiser steps of the whole
    run) reaches ``COMPILE_AUTO_MIN_STEPS``; unknown ``total_steps`` means no.
    """
    # values checked by the config: "auto", True or False
    out: dict[str, Any] = {"channels_last": train.channels_last, "compile": train.compile}
    if out["channels_last"] == "auto":
        out["channels_last"] = None  # prepare_for_speed decides: on with 2-D convolutions
    if out["compile"] == "auto":
        out["compile"] = total_steps is not None and total_steps >= COMPILE_AUTO_MIN_STEPS
    return out


def _has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_for_speed(model: nn.Module, device: torch.device | str,
                      cfg: dict[str, Any] | None = None, *, channels_last: bool | None = None,
                      compile: bool = False) -> nn.Module:
    """Apply the layout/compilation speed-ups to ``model`` (in place) and return it.

    Call it after the model is on ``device`` and before the optimiser and the EMA copy are
    made. ``channels_last=None`` turns it on whenever the model has 2-D convolutions (measured
    faster on CPU; the usual choice on GPU). ``compile=True`` compiles the frontend and the
    backbone in place (``nn.Module.compile``: parameter names and the state dict stay the
    same). ``cfg`` is accepted for future per-run choices and not read yet. The list of what
    was applied is ``model.asdbench_speed``.
    """
    del cfg
    applied: list[str] = list(getattr(model, APPLIED_ATTR, []))  # earlier calls add up
    if channels_last is None:
        channels_last = _has_conv2d(model)
    if torch.device(device).type == "cuda" and "cudnn_benchmark" not in applied:
        # fixed shapes all run long: let cuDNN time its algorithms once (a global switch)
        torch.backends.cudnn.benchmark = True
        applied.append("cudnn_benchmark")
    if channels_last and "channels_last" not in applied:
        model.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if compile and "compile" not in applied:
        for name in ("frontend", "backbone"):
            part = getattr(model, name, None)
            if isinstance(part, nn.Module):
                part.compile()
        applied.append("compile")
    setattr(model, APPLIED_ATTR, applied)
    return model


def optimize_for_inference(module: nn.Module | torch.jit.ScriptModule,
                           example: torch.Tensor | None = None, *,
                           channels_last: bool = True) -> torch.jit.ScriptModule:
    """A frozen, oneDNN-optimised TorchScript copy of ``module`` for inference.

    ``module`` is a loaded TorchScript model (e.g. the file of ``asdbench export``) or an
    ``nn.Module``, which is then traced on ``example`` (channels-last first, when it has 2-D
    convolutions). ``torch.jit.freeze`` folds BatchNorm into the preceding convolutions and
    inlines the weights; ``torch.jit.optimize_for_inference`` converts convolutions to oneDNN's
    layouts and fuses their activations. Outputs match the eager module to float32 rounding.
    The result is specific to the machine it was made on: ship the portable export and call
    this where the model runs.
    """
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is marked deprecated
        if not isinstance(module, torch.jit.ScriptModule):
            if example is None:
                raise ValueError("optimize_for_inference: an nn.Module needs an example input")
            module = copy.deepcopy(module).eval()
            if channels_last and _has_conv2d(module):
                module.to(memory_format=torch.channels_last)
            module = torch.jit.trace(module, (example,), check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))
