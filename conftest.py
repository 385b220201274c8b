import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """The whole session uses a private cache folder, never the user's ~/.cache/asdbench."""
    old = os.environ.get("ASDBENCH_CACHE")
    os.environ["ASDBENCH_CACHE"] = str(tmp_path_factory.mktemp("asdbench-cache"))
    yield
    if old is None:
        os.environ.pop("ASDBENCH_CACHE", None)
    else:
        os.environ["ASDBENCH_CACHE"] = old
