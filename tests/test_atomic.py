"""Atomic writes: whole files only, with the mode a plain open() would give."""

from __future__ import annotations

import os
import stat

import pytest

from asdbench.atomic import atomic_path, atomic_write_text


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "{}"


def test_failed_writer_leaves_the_old_file_and_no_temp(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_unwritable_reason(tmp_path):
    from asdbench.atomic import unwritable_reason

    assert unwritable_reason(tmp_path / "new" / "folder") is None
    assert (tmp_path / "new" / "folder").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert unwritable_reason(blocker / "sub") == "Not a directory"
