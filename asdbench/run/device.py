"""Where a run computes: its device and its precision (autocast)."""

from __future__ import annotations

import sys
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


def precision(device: torch.device, amp: Any) -> str:
    """The precision ``train.amp`` means on ``device``: ``fp32``, ``bf16`` or ``fp16``
    ("auto": bf16 on CUDA, fp32 elsewhere)."""
    if amp == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if amp in (True, "bf16", "true"):
        return "bf16"
    return "fp16" if amp == "fp16" else "fp32"


def amp_enabled(device: torch.device, amp: Any, training: bool = False) -> bool:
    """Whether ``train.amp`` autocasts on ``device``: bf16 in every pass, fp16 in training
    steps only (as the Noisy-ArcMix authors, who validate and test in fp32)."""
    p = precision(device, amp)
    return p == "bf16" or (p == "fp16" and training)


def autocast(device: torch.device, amp: Any, training: bool = False) -> torch.autocast:
    """The run's autocast context (a no-op in fp32); fp16 has no gradient scaler."""
    dtype = torch.float16 if precision(device, amp) == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype,
                          enabled=amp_enabled(device, amp, training))


def reset_peak_memory(device: torch.device) -> None:
    """Start counting the peak memory of ``device`` anew (CUDA only: a process's RSS peak
    cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """The most memory training held: ``{"train_peak_mb": MB, "train_peak_measure": what}``.

    On CUDA, the tensors allocated on the device since :func:`reset_peak_memory`
    (``torch.cuda.max_memory_allocated``). Elsewhere, the process's peak resident set
    (``ru_maxrss``): the whole process since it started, data and earlier runs in it too.
    """
    if device.type == "cuda":
        return {"train_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20,
                "train_peak_measure": "cuda max_memory_allocated"}
    import resource  # noqa: PLC0415 - POSIX only: absent on Windows

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return {"train_peak_mb": mb, "train_peak_measure": "process RSS (ru_maxrss)"}
