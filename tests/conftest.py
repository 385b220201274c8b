import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets a private cache folder, so nothing leaks between tests or into ~/.cache."""
    if "ASDBENCH_CACHE_KEEP" not in os.environ:
        monkeypatch.setenv("ASDBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
