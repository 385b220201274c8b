"""Exported scoring models (TorchScript, ONNX) reproduce a run's scores without asdbench,
for the shipped scorers and a third party's (each scorer's ``to_torch``)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import asdbench.commands.export as export_cli
import asdbench.export as export
import asdbench.plugins
from asdbench import hookimpl
from asdbench.config import component_options, resolve
from asdbench.export import (
    ScoringModel,
    _publish,
    export_run,
    file_sha256,
    gather_adaptive_max_pool1d,
    onnx_available,
    scorer_module,
    sidecar_path,
)
from asdbench.exported import read_sidecar
from asdbench.plugins import get_registry, load_plugins
from asdbench.registry import AsdbenchError, Component
from asdbench.run.pipeline import train_and_evaluate
from asdbench.scoring import ScoringInputs

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
    _, run = train_and_evaluate(cfg, tmp_path_factory.mktemp("results"), progress=False)
    run_dir = run.path
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    paths = {c.file_name: str(c.path) for c in dataset.clips() if c.split == "test"}
    scores = pd.read_csv(run_dir / "scores.csv")
    return request.param, run_dir, paths, scores


def _own_column(scores: pd.DataFrame, classes: list[str], matrix) -> np.ndarray:
    cols = [classes.index(f"{t}/{int(i):02d}")
            for t, i in zip(scores["machine_type"], scores["machine_id"], strict=True)]
    return np.asarray(matrix)[np.arange(len(cols)), cols]


@pytest.mark.slow
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
@pytest.mark.slow
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


@pytest.mark.slow
def test_export_command_writes_model_and_sidecar(run, tmp_path):
    frontend, run_dir, _, _ = run
    if frontend != "logmel":
        pytest.skip("the command is checked once")
    out = tmp_path / "cli.pt"
    result = CliRunner().invoke(export_cli.command, ["--run", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and sidecar_path(out).is_file() and str(out) in result.output
    bad = CliRunner().invoke(export_cli.command, ["--run", str(run_dir), "--format", "tflite"])
    assert bad.exit_code != 0 and "tflite" in bad.output
    assert export_cli.FORMATS == export.FORMATS  # the command's choices, spelled without torch
    assert export_cli.QUANTIZE == export.QUANTIZE
    # the archive's folder is not named after a temporary file (torch's per-save
    # serialization_id still makes two exports differ)
    import zipfile

    assert {n.split("/")[0] for n in zipfile.ZipFile(out).namelist()} == {"archive"}
    meta = read_sidecar(out)
    assert meta["sha256"] == file_sha256(out) and meta["precision"] == "fp32"
    ts_int8 = CliRunner().invoke(export_cli.command, ["--run", str(run_dir), "--quantize", "int8",
                                                      "--format", "torchscript"])
    assert ts_int8.exit_code != 0 and "--format onnx" in str(ts_int8.exception)


def test_killed_export_never_pairs_a_new_model_with_an_old_sidecar(tmp_path, monkeypatch):
    out = tmp_path / "model.pt"
    first = tmp_path / "first.bin"
    first.write_bytes(b"model one")
    old_hash = file_sha256(first)
    _publish(first, {"format": "torchscript"}, out)
    assert read_sidecar(out)["sha256"] == file_sha256(out)
    second = tmp_path / "second.bin"
    second.write_bytes(b"model two")
    real = export.os.replace

    def killed_before_the_sidecar(src, dst):
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt  # the process dies between the two renames
        real(src, dst)

    monkeypatch.setattr(export.os, "replace", killed_before_the_sidecar)
    with pytest.raises(KeyboardInterrupt):
        _publish(second, {"format": "torchscript"}, out)
    monkeypatch.undo()
    assert out.read_bytes() == b"model two"
    with pytest.raises(AsdbenchError, match="sidecar model.pt.json is missing"):
        read_sidecar(out)
    # an old sidecar put back beside the new model (a copy, a concurrent export) is refused
    sidecar_path(out).write_text(json.dumps({"format": "torchscript",
                                             "sha256": old_hash}))
    with pytest.raises(AsdbenchError, match="does not match its sidecar"):
        read_sidecar(out)


@pytest.mark.parametrize("length,size", [(800, 64), (8000, 626), (626, 313), (7, 3), (5, 8)])
def test_gather_adaptive_max_pool_equals_torch(length, size):
    x = torch.randn(2, 3, length)
    assert torch.equal(gather_adaptive_max_pool1d(x, size), F.adaptive_max_pool1d(x, size))


def test_unsupported_scorer_and_format_are_clear_errors(tmp_path):
    class NoTorch:  # fit/score only
        pass

    with pytest.raises(AsdbenchError, match="scorer 'mine' cannot be exported: it has no "
                                            "to_torch"):
        scorer_module(NoTorch(), "mine", torch.nn.Module(), 2)

    class Wrong:
        def to_torch(self, head, num_classes):
            return np.zeros((2, num_classes))

    with pytest.raises(AsdbenchError, match="scorer 'wrong': to_torch returned ndarray"):
        scorer_module(Wrong(), "wrong", torch.nn.Module(), 2)
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
    model = build_model(cfg, registry, audio, 3)
    ce = registry.create("scorer", "ce").to_torch(model.method, 3)
    scoring = ScoringModel(model, ce).eval()
    with torch.no_grad():
        traced = torch.jit.trace(scoring, (torch.randn(2, audio.num_samples),), check_trace=False)
    assert '"cpu"' not in str(traced.inlined_graph)
    assert traced(torch.randn(1, audio.num_samples)).shape == (1, 3)


# --- a third party's scorer ------------------------------------------------------------------


class CentroidDistances(torch.nn.Module):
    """Euclidean distance of each embedding to every class's train centroid: ``[B, K]``."""

    def __init__(self, centroids: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("centroids", torch.from_numpy(centroids.astype(np.float32)))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return (e.float().unsqueeze(1) - self.centroids.unsqueeze(0)).norm(dim=2)


class CentroidScorer:
    """Not shipped: Euclidean distance to the clip's class's mean train embedding."""

    def fit(self, train: ScoringInputs) -> None:
        self.centroids = np.stack([train.embeddings[train.rows_of_class(c)].mean(axis=0)
                                   for c in range(int(train.class_index.max()) + 1)])

    def score(self, test: ScoringInputs) -> np.ndarray:
        return np.linalg.norm(test.embeddings - self.centroids[test.class_index], axis=1)

    def to_torch(self, head: torch.nn.Module, num_classes: int) -> torch.nn.Module:
        assert len(self.centroids) == num_classes
        return CentroidDistances(self.centroids)


class ScorerPlugin:
    @hookimpl
    def asdbench_scorers(self) -> list[Component]:
        return [Component("centroid-l2", lambda options: CentroidScorer(), {},
                          "a third party's scorer")]


@pytest.mark.slow
def test_third_party_scorer_is_exported_with_the_runs_scores(tmp_path, monkeypatch):
    plugins = load_plugins([("centroid-plugin", ScorerPlugin())])
    monkeypatch.setattr(asdbench.plugins, "default_plugins", lambda: plugins)
    cfg = resolve({**TINY, "frontend": "logmel", "scorer": "centroid-l2"}, plugins.registry)
    _, run = train_and_evaluate(cfg, tmp_path / "results", progress=False)
    scores = pd.read_csv(run.path / "scores.csv")
    out = export_run(run.path, "torchscript", tmp_path / "centroid.pt")
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["scorer"] == "centroid-l2" and meta["scorer_options"] == {}
    dataset = plugins.registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    paths = {c.file_name: c.path for c in dataset.clips() if c.split == "test"}
    x = np.stack([sf.read(paths[f], dtype="float32")[0] for f in scores["file"]])
    model = torch.jit.load(str(out))
    with torch.no_grad():
        matrix = model(torch.from_numpy(x)).numpy()
    own = _own_column(scores, meta["classes"], matrix)
    # Euclidean distances of ~1 (unit-norm embeddings): float32 through the network
    np.testing.assert_allclose(own, scores["score"].to_numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(matrix[:, 0], matrix[:, 1])  # the columns are per-class scores


# --- int8 -------------------------------------------------------------------------------------

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="optional extra asdbench[onnx] "
                                "(onnx, onnxruntime, onnxscript) not installed")


@needs_onnx
def test_only_the_inner_weighted_layers_are_quantised():
    """Frontend and scorer stay float, and so does the first layer that reads the features."""
    import onnx
    from onnx import TensorProto, helper

    from asdbench.quantize import first_layers, quantizable_nodes

    def node(op, inputs, output, scope):
        n = helper.make_node(op, inputs, [output], name=f"{scope}_{output}")
        n.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=str(["", scope, op]))
        return n

    nodes = [node("MatMul", ["wave", "mel"], "feats", "frontend.logmel"),
             node("Log", ["feats"], "logmel", "frontend.logmel"),
             node("Conv", ["logmel", "w1"], "h1", "backbone"),
             node("Relu", ["h1"], "a1", "backbone"),
             node("Conv", ["a1", "w2"], "h2", "backbone"),
             node("Gemm", ["h2", "w3"], "e", "method.head"),
             node("Gemm", ["e", "w4"], "scores", "scores")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "wave", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(
            "scores", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph)
    assert isinstance(model, onnx.ModelProto)
    assert first_layers(model) == {"backbone_h1"}
    assert [n.name for n in quantizable_nodes(model)] == ["backbone_h2", "method.head_e"]


# Each a tiny run that learns enough for its scores to spread beyond int8's rounding: the
# int8 scores of a model at chance reorder clips whose fp32 scores differ by noise alone.
INT8_ARCHITECTURES = {
    "mobilefacenet-logmel": {"frontend": "logmel"},
    "mobilefacenet-tfstgram": {"frontend": "tfstgram", "train.lr": 3e-3, "train.epochs": 6},
    "mobilenetv2": {"backbone": "mobilenetv2", "method": "softmax", "backbone.width": 0.5,
                    "train.lr": 3e-3, "train.epochs": 6},
    "dcase2020-ae": {"backbone": "frames", "method": "dcase2020-ae", "scorer": "method",
                     "train.ema_warmup": False, "train.bn_recalibrate": 0,
                     "train.epochs": 10},
}
# MobileNetV2's int8 scores follow fp32 less closely on these tiny runs than the others' do
# (results/cost.md, "Tiny runs": measured, and what was tried).
INT8_MIN_SPEARMAN = {"mobilenetv2": 0.80}


@needs_onnx
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INT8_ARCHITECTURES))
def test_int8_export_runs_in_onnxruntime_and_eval_reproduces_it(name, tmp_path):
    """A tiny run of each shipped architecture: its int8 export runs in plain ONNX Runtime,
    a clip's score does not depend on its batch, the scores follow the run's fp32 scores,
    and ``eval --exported`` gives the file's scores bit for bit."""
    import onnx
    import onnxruntime as ort
    from scipy.stats import spearmanr

    from asdbench.commands.eval import command as eval_command
    from asdbench.quantize import count_quantized
    from asdbench.testing import TINY_RUN

    registry = get_registry()
    cfg = resolve({**TINY_RUN, **INT8_ARCHITECTURES[name]}, registry)
    _, run = train_and_evaluate(cfg, tmp_path / "results", progress=False)
    fp32 = pd.read_csv(run.path / "scores.csv")
    trained = json.loads((run.path / "metrics.json").read_text())  # the training cost recorded
    assert trained["train_peak_mb"] > 0 and trained["train_peak_measure"].startswith("process")
    result = CliRunner().invoke(export_cli.command, ["--run", str(run.path), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    out = run.path / "export" / "model-int8.onnx"
    meta = read_sidecar(out)
    assert meta["precision"] == "int8" and meta["format"] == "onnx"
    assert meta["quantization"]["mode"] == "static"
    assert count_quantized(onnx.load(str(out))) == meta["quantization"]["quantized_ops"] > 0
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    # file names repeat across machine types: a clip is its type and its file name
    paths = {(c.machine_type, c.file_name): c.path for c in dataset.clips() if c.split == "test"}
    x = np.stack([sf.read(paths[key], dtype="float32")[0]
                  for key in zip(fp32["machine_type"], fp32["file"], strict=True)])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    alone = np.concatenate([session.run(None, {"wave": x[i:i + 1]})[0] for i in range(len(x))])
    # batches of 16 in a shuffled order: fixed activation ranges make batches irrelevant
    shuffled = np.empty_like(alone)
    order = np.random.default_rng(0).permutation(len(x))
    for i in range(0, len(x), 16):
        shuffled[order[i:i + 16]] = session.run(None, {"wave": x[order[i:i + 16]]})[0]
    np.testing.assert_allclose(shuffled, alone, rtol=0, atol=export.VERIFY_TOLERANCE)
    own = _own_column(fp32, meta["classes"], alone)
    assert np.isfinite(own).all()
    rho = spearmanr(own, fp32["score"]).statistic
    floor = INT8_MIN_SPEARMAN.get(name, 0.95)
    assert rho >= floor, f"int8 scores follow fp32 with Spearman {rho:.3f}, below {floor}"
    got = CliRunner().invoke(eval_command, ["--run", str(run.path), "--exported", str(out),
                                            "--json", "--quiet"])
    assert got.exit_code == 0, got.output
    metrics = json.loads(got.stdout[got.stdout.index("{"):])
    assert metrics["config"]["export.precision"] == "int8"
    scored = pd.read_csv(Path(metrics["eval_dir"]) / "scores.csv")
    assert list(zip(scored["machine_type"], scored["file"], strict=True)) == \
        list(zip(fp32["machine_type"], fp32["file"], strict=True))
    # scores.csv holds 17 significant digits: the float32 scores come back exactly
    np.testing.assert_array_equal(scored["score"].to_numpy(), own.astype(np.float64))
