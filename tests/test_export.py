"""Exported scoring models (TorchScript, ONNX) reproduce a run's scores without asdbench."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import asdbench.engine as engine
from asdbench.config import component_options, resolve
from asdbench.export import (
    ScoringModel,
    ce_all_classes,
    export_command,
    export_run,
    gather_adaptive_max_pool1d,
    onnx_available,
    sidecar_path,
)
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.scoring import cross_entropy

TINY = {
    "dataset": "synthetic", "data.types": "fan", "data.ids_per_type": 2, "data.train_per_id": 8,
    "data.test_normal_per_id": 2, "data.test_anomaly_per_id": 2, "data.clip_seconds": 1.0,
    "method": "os-scl", "train.epochs": 1, "train.batch_size": 8, "train.device": "cpu",
}

# Runs in a fresh interpreter where importing asdbench or its plugins fails: the deployed model
# needs torch, the sidecar and the WAVs only.
LOADER = r"""
import json, sys
for name in ("asdbench", "asdbench_osscl", "asdbench_datasets", "asdbench_scorers"):
    sys.modules[name] = None
import numpy as np, soundfile as sf, torch
model_path, wavs = sys.argv[1], sys.argv[2:]
meta = json.load(open(model_path + ".json"))
model = torch.jit.load(model_path)
x = np.stack([sf.read(w, dtype="float32")[0][:meta["clip_samples"]] for w in wavs])
with torch.no_grad():
    batch = model(torch.from_numpy(x))
    single = torch.cat([model(torch.from_numpy(x[i:i + 1])) for i in range(len(x))])
print(json.dumps({"classes": meta["classes"], "scores": batch.tolist(), "single": single.tolist()}))
"""


@pytest.fixture(scope="module", params=["logmel", "tfstgram"])
def run(request, tmp_path_factory):
    """A finished tiny run, its test clips' WAV paths and its scores.csv."""
    registry = get_registry()
    cfg = resolve({**TINY, "frontend": request.param}, registry)
    run_dir = engine.train_and_evaluate(cfg, tmp_path_factory.mktemp("results"), progress=False)
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    paths = {c.file_name: str(c.path) for c in dataset.clips() if c.split == "test"}
    scores = pd.read_csv(run_dir / "scores.csv")
    return request.param, run_dir, paths, scores


def _own_column(scores: pd.DataFrame, classes: list[str], matrix) -> np.ndarray:
    cols = [classes.index(f"{t}/{int(i):02d}")
            for t, i in zip(scores["machine_type"], scores["machine_id"], strict=True)]
    return np.asarray(matrix)[np.arange(len(cols)), cols]


def test_torchscript_reproduces_scores_without_asdbench(run, tmp_path):
    frontend, run_dir, paths, scores = run
    out = export_run(run_dir, "torchscript", tmp_path / f"{frontend}.pt")
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["classes"] == ["fan/00", "fan/01"] and meta["scorer"] == "ce"
    assert meta["sample_rate"] == 16000 and meta["clip_samples"] == 16000
    wavs = [paths[f] for f in scores["file"]]
    proc = subprocess.run([sys.executable, "-c", LOADER, str(out), *wavs], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert np.asarray(got["scores"]).shape == (len(scores), 2)
    own = _own_column(scores, got["classes"], got["scores"])
    # float32 through ~60 layers with another batch composition: scores of ~20 (ArcFace s = 30)
    # agree to ~1e-4 absolute, ~1e-5 relative
    np.testing.assert_allclose(own, scores["score"].to_numpy(), rtol=1e-5, atol=1e-4)
    # the traced graph is not tied to the batch size it was traced with
    np.testing.assert_allclose(got["single"], got["scores"], rtol=0, atol=1e-4)


@pytest.mark.skipif(not onnx_available(),
                    reason="optional extra asdbench[onnx] (onnx, onnxruntime, onnxscript) "
                           "not installed")
def test_onnx_reproduces_scores(run, tmp_path):
    import onnxruntime as ort
    import soundfile as sf

    frontend, run_dir, paths, scores = run
    if frontend != "tfstgram":  # TFSTgram covers the STFT and the ONNX-safe adaptive pooling
        pytest.skip("ONNX export is checked on the tfstgram run (the log-Mel is inside it)")
    out = export_run(run_dir, "onnx", tmp_path / "model.onnx")
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["format"] == "onnx"
    x = np.stack([sf.read(paths[f], dtype="float32")[0] for f in scores["file"]])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    matrix = session.run(None, {"wave": x})[0]
    own = _own_column(scores, meta["classes"], matrix)
    # float32 through ~60 layers with another batch composition: scores of ~20 (ArcFace s = 30)
    # agree to ~1e-4 absolute, ~1e-5 relative
    np.testing.assert_allclose(own, scores["score"].to_numpy(), rtol=1e-5, atol=1e-4)


def test_export_command_writes_model_and_sidecar(run, tmp_path):
    frontend, run_dir, _, _ = run
    if frontend != "logmel":
        pytest.skip("the command is checked once")
    out = tmp_path / "cli.pt"
    result = CliRunner().invoke(export_command, ["--run", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and sidecar_path(out).is_file() and str(out) in result.output
    bad = CliRunner().invoke(export_command, ["--run", str(run_dir), "--format", "tflite"])
    assert bad.exit_code != 0 and "tflite" in bad.output


def _method(margin: float, eval_margin: bool, num_classes: int = 5, dim: int = 8):
    return get_registry().create("method", "os-scl", {"margin": margin, "eval_margin": eval_margin},
                                 num_classes=num_classes, embedding_dim=dim, frontend="logmel")


@pytest.mark.parametrize("eval_margin", [True, False])
def test_ce_all_classes_equals_the_ce_scorer_column_by_column(eval_margin):
    torch.manual_seed(0)
    method = _method(0.7, eval_margin).eval()
    e = F.normalize(torch.randn(6, 8), dim=1)
    with torch.no_grad():
        got = ce_all_classes(method, e, 5).numpy()
        for k in range(5):
            labels = torch.full((6,), k)
            want = cross_entropy(method.logits(e, labels).numpy(), labels.numpy())
            np.testing.assert_allclose(got[:, k], want, rtol=0, atol=1e-4)
    if eval_margin:  # the margin on the scored class makes its CE larger than without it
        plain = _method(0.7, False).eval()
        plain.load_state_dict(method.state_dict())
        with torch.no_grad():
            assert (got > ce_all_classes(plain, e, 5).numpy()).all()


@pytest.mark.parametrize("length,size", [(800, 64), (8000, 626), (626, 313), (7, 3), (5, 8)])
def test_gather_adaptive_max_pool_equals_torch(length, size):
    x = torch.randn(2, 3, length)
    assert torch.equal(gather_adaptive_max_pool1d(x, size), F.adaptive_max_pool1d(x, size))


def test_unsupported_scorer_and_format_are_clear_errors(tmp_path):
    with pytest.raises(AsdbenchError, match="kmeans-domain"):
        ScoringModel(torch.nn.Module(), 2, "kmeans-domain")
    with pytest.raises(AsdbenchError, match="format"):
        export_run(tmp_path, "tflite")


def test_exported_graph_holds_no_device_constant():
    """A traced ``torch.arange(device=...)`` would pin the file to the tracing device: the
    export made on a CPU then fails on a GPU (seen on an H200)."""
    registry = get_registry()
    cfg = resolve({"frontend": "tfstgram", "method": "os-scl", "data.clip_seconds": 1.0},
                  registry)
    from asdbench.model import build_model  # noqa: PLC0415
    from asdbench.modelinfo import audio_spec  # noqa: PLC0415

    audio = audio_spec(cfg)
    scoring = ScoringModel(build_model(cfg, registry, audio, 3), 3).eval()
    with torch.no_grad():
        traced = torch.jit.trace(scoring, (torch.randn(2, audio.num_samples),), check_trace=False)
    assert '"cpu"' not in str(traced.inlined_graph)
    assert traced(torch.randn(1, audio.num_samples)).shape == (1, 3)
