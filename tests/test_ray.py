"""The Ray executor on a local Ray instance (2 CPUs): a real tiny matrix and a failing cell."""

import sys

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'asdbench[ray]'")

from test_matrix import FAKE_ENGINE, TINY, calls, fake_registry, real_registry  # noqa: E402

from asdbench.matrix.executors import RayExecutor  # noqa: E402
from asdbench.matrix.outcome import is_finished  # noqa: E402
from asdbench.matrix.records import read_failures  # noqa: E402
from asdbench.matrix.runner import run_matrix  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_runs_a_tiny_real_matrix(local_ray, tmp_path):
    registry = real_registry()
    config = {**TINY, "name": "ray-tiny", "axes": {"seed": [0, 1], "method": ["arcface"]}}
    executor = RayExecutor()
    assert executor.capacity == 2 and executor.gpus == 0
    assert executor.describe() == "Ray executor, 2 at a time on CPUs"
    results = tmp_path / "results"
    result = run_matrix(config, results, registry=registry, executor=executor, progress=False)
    assert result.ok and len(result.done) == 2, result.failed
    assert all(is_finished(results, rid) for rid in result.done)
    assert ray.is_initialized()  # an instance the caller started is left running
    again = run_matrix(config, results, registry=registry, executor=RayExecutor(),
                       progress=False)
    assert len(again.skipped) == 2 and not again.done


def test_ray_reports_a_failing_cell_and_finishes_the_others(local_ray, tmp_path):
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    config = {"name": "ray-fail", "axes": {"method": ["arcface", "boom", "os-scl"]}}
    results = tmp_path / "results"
    results.mkdir()
    executor = RayExecutor(command=[sys.executable, str(script)], max_parallel=3)
    result = run_matrix(config, results, registry=fake_registry(), executor=executor,
                        retries=0, progress=False)
    assert len(result.done) == 2
    assert list(result.failed.values()) == ["Error: the [bold]boom[/] plugin raised on purpose"]
    assert len(calls(results)) == 3
    records = read_failures(results, "ray-fail")
    assert [r["overrides"]["method"] for r in records] == ["boom"]
    assert "training..." in records[0]["tail"]
