"""The README's example method plugin passes the contract kit, installed as a third party's."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "asdbench-example-method"


def _fake_install(tmp_path: Path) -> dict:
    """Make the example discoverable as an installed distribution (as pluggy's tests do)."""
    dist = tmp_path / "asdbench_example_method-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: asdbench-example-method\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[asdbench]\nexample_method = asdbench_example_method\n")
    path = os.pathsep.join([str(tmp_path), str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.slow  # a pytest subprocess: torch, the plugins, four training steps
def test_example_method_passes_the_contract_kit(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(EXAMPLE),
         str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=_fake_install(tmp_path), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # registered with its package, one training step per OS-SCL frontend, options
    assert re.search(r"^6 passed", proc.stdout, re.M), proc.stdout

