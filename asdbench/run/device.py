"""Where a run computes: its device and its bf16 autocast."""

from __future__ import annotations

from typing import Any

import torch

from asdbench.registry import AsdbenchError


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; a CUDA device that is not there is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AsdbenchError(f"--device: unknown device '{name}' (use auto, cpu, cuda, cuda:K)") \
            from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise AsdbenchError(f"--device {name}: no such CUDA device "
                                f"({count} visible on this machine)")
    return device


def amp_enabled(device: torch.device, amp: Any) -> bool:
    """Whether ``train.amp`` means bf16 autocast on ``device`` ("auto": on CUDA only)."""
    return device.type == "cuda" if amp == "auto" else amp in (True, "bf16", "true")


def autocast(device: torch.device, amp: Any) -> torch.autocast:
    """The run's autocast context: bf16 where :func:`amp_enabled`, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_enabled(device, amp))
