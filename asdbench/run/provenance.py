"""Where a run's results came from: package versions, the machine, the git commit."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

from asdbench.meta import __version__


def git_commit() -> str:
    """The commit of the asdbench source tree, or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``), else what ``platform`` knows, or ""."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, platform, commit and device of this process (saved in ``config.json``).

    The CPU model and torch's thread count are recorded too: the same run on another CPU, or
    with another number of threads, sums in another order, and short synthetic runs have
    moved by 1-4 AUC points with it (issue 14)."""
    info = {"asdbench": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "git_commit": git_commit(),
            "device": str(device), "cpu": cpu_model(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
