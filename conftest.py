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


@pytest.fixture
def killed_after_saves(monkeypatch):
    """``with killed_after_saves(n) as saved:`` the run's ``n``-th checkpoint is written, then
    the process "dies" (``KeyboardInterrupt``, which the block expects); ``saved`` lists the
    checkpoints written. On leaving the block checkpoints are saved normally again."""
    from contextlib import contextmanager

    from asdbench.run import checkpoint

    real_save = checkpoint.save

    @contextmanager
    def kill(n: int):
        saved: list[dict] = []

        def save(obj, path):
            real_save(obj, path)
            saved.append(dict(obj))  # as it was written (a shallow copy)
            if len(saved) == n:
                raise KeyboardInterrupt

        monkeypatch.setattr(checkpoint, "save", save)
        try:
            with pytest.raises(KeyboardInterrupt):
                yield saved
        finally:
            monkeypatch.setattr(checkpoint, "save", real_save)

    return kill
