"""Method dcase-ae, the DCASE 2021-2025 autoencoder baselines: the MSE and the selective
Mahalanobis scores against numpy on hand-made errors, layer sizes and parameter counts from
the organisers' layer lists, the edition recipes, the matrix config, and tiny runs on fake
DCASE 2021 / 2023 trees whose submission files are in the official format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from asdbench_dcase_baselines.dcase_ae import DcaseAE, dcase_ae_factory
from asdbench_dcase_baselines.mahalanobis import selective_mahalanobis
from asdbench_dcase_baselines.options import DCASE_AE_OPTIONS
from asdbench_dcase_baselines.recipes import RECIPES
from safetensors.torch import load_file
from torch import nn

from asdbench.config import resolve
from asdbench.matrix.grid import expand, load_matrix
from asdbench.model import build_model
from asdbench.modelinfo import describe_model
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.service import evaluate_run
from asdbench.sdk import AudioSpec, FrontendInfo
from asdbench.testing import installed_registry

REGISTRY = installed_registry()
REPO = Path(__file__).resolve().parents[3]
VALUES, FRAMES_PER_CLIP, FRAMES = 3, 8, 5  # 3 mel bins, 8 frames: 4 windows of 5 frames
CLASSES = ("fan/00", "fan/01", "pump/00")


def defaults(**over) -> dict:
    return {**{k: v.default for k, v in DCASE_AE_OPTIONS.items()}, **over}


class Tanh(nn.Module):
    """A fixed 'reconstruction': errors tanh(x) - x, non-linear in x and different per row."""

    def forward(self, x):
        return torch.tanh(x)


def make_ae(score: str) -> DcaseAE:
    info = FrontendInfo((1, VALUES, FRAMES_PER_CLIP))
    ae = dcase_ae_factory(defaults(score=score), len(CLASSES), VALUES * FRAMES_PER_CLIP, info,
                          CLASSES)
    ae.nets[0], ae.nets[1] = Tanh(), nn.Identity()  # fan: tanh; pump: perfect (errors 0)
    return ae.eval()


def clips(n: int, seed: int) -> np.ndarray:
    """``[n, VALUES, FRAMES_PER_CLIP]`` spectrograms."""
    return np.random.default_rng(seed).normal(0.0, 1.5, (n, VALUES, FRAMES_PER_CLIP))


def error_rows(x: np.ndarray) -> np.ndarray:
    """By hand: every window t of frames t..t+4, each frame a row, error tanh(x) - x;
    ``[n, windows * FRAMES, VALUES]``."""
    n, _, t = x.shape
    rows = [[x[c, :, w + k] for w in range(t - FRAMES + 1) for k in range(FRAMES)]
            for c in range(n)]
    r = np.asarray(rows)
    return np.tanh(r) - r


def organisers_cov(rows: np.ndarray, windows: int) -> np.ndarray:
    """Scatter of the rows around their mean over (windows - 1), as their cov_v / num - 1."""
    d = rows - rows.mean(0)
    return d.T @ d / (windows - 1)


def as_batch(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32).flatten(1)


def test_mse_score_is_the_mean_squared_error_of_every_window():
    ae = make_ae("mse")
    x = clips(4, 0)
    e = ae.embed(as_batch(x))
    expected = (error_rows(x) ** 2).mean((1, 2))
    np.testing.assert_allclose(e[:, 0].numpy(), expected, rtol=1e-5)
    assert e[:, 1].abs().max() == 0  # pump's network reconstructs perfectly
    assert not hasattr(ae, "cov")  # the MSE model keeps no covariance
    ae.fit_train([(as_batch(x), torch.tensor([0, 1, 0, 1]), np.array(["source"] * 4))])
    torch.testing.assert_close(ae.embed(as_batch(x)), e)  # fit_train changes nothing


def test_selective_mahalanobis_against_numpy_with_two_domains():
    ae = make_ae("mahalanobis")
    train = clips(6, 1)
    domains = np.array(["source", "target", "source", "source", "target", "source"])
    labels = torch.tensor([0, 1, 0, 1, 0, 1])  # every training clip is a fan (network 0)
    pump = clips(3, 2)
    # before fitting (training, validation) the score is the MSE
    torch.testing.assert_close(ae.embed(as_batch(train)), make_ae("mse").embed(as_batch(train)))
    # two batches, one pump batch (network 1) among them
    ae.fit_train([(as_batch(train[:4]), labels[:4], domains[:4]),
                  (as_batch(train[4:]), labels[4:], domains[4:]),
                  (as_batch(pump), torch.tensor([2, 2, 2]), np.array(["source"] * 3))])
    rows = error_rows(train)
    windows = FRAMES_PER_CLIP - FRAMES + 1
    covs = [organisers_cov(rows[domains == d].reshape(-1, VALUES),
                           windows * int((domains == d).sum())) for d in ("source", "target")]
    np.testing.assert_allclose(ae.cov[0].numpy(), np.stack(covs), rtol=1e-5, atol=1e-6)
    assert bool(ae.fitted)
    test = clips(5, 3)
    mean_rows = error_rows(test).mean(1)  # each clip's mean error row
    by_domain = [np.einsum("nd,de,ne->n", mean_rows, np.linalg.inv(c), mean_rows) for c in covs]
    expected = np.minimum(*by_domain)
    assert (by_domain[0] < by_domain[1]).any() and (by_domain[1] < by_domain[0]).any()
    scores = ae.embed(as_batch(test))
    np.testing.assert_allclose(scores[:, 0].numpy(), expected, rtol=1e-4)
    # the organisers' form: the mean over every pair of rows of delta_i P delta_j
    delta = error_rows(test)[0]
    pairs = delta @ np.linalg.inv(covs[0]) @ delta.T
    np.testing.assert_allclose(pairs.mean(), by_domain[0][0], rtol=1e-6)
    # pump: errors 0, no target clip: its target covariance is its source one
    torch.testing.assert_close(ae.cov[1, 0], ae.cov[1, 1])
    torch.testing.assert_close(ae.logits(scores, None), scores[:, [0, 0, 1]])


def test_selective_mahalanobis_function_and_unfittable_network():
    m = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    precisions = torch.stack([torch.diag(torch.tensor([1.0, 4.0])),
                              torch.diag(torch.tensor([3.0, 0.5]))])
    assert selective_mahalanobis(m, precisions).tolist() == [1.0, 2.0]  # min(1, 3), min(16, 2)
    ae = make_ae("mahalanobis")
    with pytest.raises(AsdbenchError, match="machine type 'pump'"):
        ae.fit_train([(as_batch(clips(2, 0)), torch.tensor([0, 1]), np.array(["", ""]))])
    with pytest.raises(AsdbenchError, match="score must be one of mse, mahalanobis"):
        dcase_ae_factory(defaults(score="mahala"), 3, 24, FrontendInfo((1, 3, 8)), CLASSES)


# --- layer sizes and parameter counts ---------------------------------------------------------

# The organisers' layer list (2021/2022 keras_model.get_model, 2023 networks/.../network.py
# AENet): 640 -> 128 x 4 -> 8 -> 128 x 4 -> 640, BatchNorm after every hidden layer.
WIDTHS = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
DENSE = sum(a * b + b for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True))
BN_UNITS = sum(WIDTHS[1:-1])


def test_parameter_counts_match_the_organisers_layer_lists():
    trainable = DENSE + 2 * BN_UNITS  # Dense kernels + biases, BN gamma + beta
    assert (DENSE, BN_UNITS, trainable) == (265_864, 1032, 267_928)
    assert trainable + 2 * BN_UNITS == 269_992  # Keras' summary: + moving mean and variance
    # AENet keeps cov_source / cov_target (128 x 128) as nn.Parameters (requires_grad False):
    # sum(p.numel() for p in model.parameters()) counts them too
    assert trainable + 2 * 128 * 128 == 300_696
    for year in (2021, 2022, 2023, 2024, 2025):
        for score in ("mse", "mahalanobis"):
            cfg = resolve({"method": "dcase-ae", "backbone": "frames", "frontend": "logmel",
                           "recipe": f"dcase{year}", "method.score": score,
                           "dataset": "synthetic", "data.clip_seconds": 10.0}, REGISTRY)
            assert describe_model(dict(cfg), REGISTRY)["params"] == trainable
    cfg = resolve({"method": "dcase-ae", "backbone": "frames", "frontend": "logmel",
                   "recipe": "dcase2023", "method.score": "mahalanobis",
                   "data.clip_seconds": 10.0}, REGISTRY)
    model = build_model(dict(cfg), REGISTRY, AudioSpec(clip_seconds=10.0), 3,
                        class_names=["fan/00", "fan/01", "pump/00"])
    method = model.method
    net = method.nets[0]
    assert len(method.nets) == 2  # one network per machine type
    assert [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)] == list(
        zip(WIDTHS[:-1], WIDTHS[1:], strict=True))
    bns = [m for m in net if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in bns] == WIDTHS[1:-1]
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)  # AENet's BatchNorm1d
    assert tuple(method.cov.shape) == (2, 2, 128, 128)  # per network: source, target


def test_initialisation_follows_the_recipe():
    info = FrontendInfo((1, 128, 10))
    torch.manual_seed(0)
    keras = dcase_ae_factory(defaults(init="keras"), 1, 1280, info).nets[0][0]
    torch.manual_seed(0)
    plain = dcase_ae_factory(defaults(init="torch"), 1, 1280, info).nets[0][0]
    assert keras.bias.abs().max() == 0 and plain.bias.abs().max() > 0  # Keras: zero biases
    glorot = (6 / (640 + 128)) ** 0.5
    kaiming = 1 / 640 ** 0.5  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert kaiming < keras.weight.abs().max() <= glorot
    assert plain.weight.abs().max() <= kaiming


# --- recipes and the matrix ---------------------------------------------------------------------


def test_edition_recipes_resolve_to_the_organisers_settings():
    ids = set()
    for year in (2021, 2022, 2023, 2024, 2025, 2026):
        cfg = resolve({"method": "dcase-ae", "backbone": "frames", "recipe": f"dcase{year}"},
                      REGISTRY)
        assert (cfg["train.lr"], cfg["train.epochs"], cfg["train.weight_decay"],
                cfg["train.val_fraction"], cfg["train.select"]) == (1e-3, 100, 0.0, 0.1, "last")
        assert (cfg["frontend.n_fft"], cfg["frontend.hop_length"], cfg["frontend.n_mels"],
                cfg["method.frames"]) == (1024, 512, 128, 5)
        assert cfg["method.init"] == ("keras" if year <= 2022 else "torch")
        assert cfg["train.batch_size"] == 2 and cfg["scorer"] == "method"
        assert cfg["method.score"] == "mse"  # the organisers' default (--score MSE)
        ids.add(cfg.run_id)
    assert len(ids) == 6  # the recipe's name is part of the run id
    assert set(RECIPES["dcase-ae"]) == {f"dcase{y}" for y in range(2021, 2027)}


def test_dcase_baselines_matrix_runs_each_editions_baseline_with_its_recipe():
    cells = expand(load_matrix(REPO / "configs" / "dcase-baselines.toml"))
    registry = get_registry()
    resolved = [resolve(c, registry) for c in cells]
    rows = {(c["dataset"], c["method"], c["recipe"], c.get("method.score", "mse"))
            for c in resolved}
    assert rows == {("dcase2020", "dcase2020-ae", "authors", "mse"),
                    ("dcase2021", "dcase-ae", "dcase2021", "mse"),
                    ("dcase2022", "dcase-ae", "dcase2022", "mse")} | {
        (f"dcase{y}", "dcase-ae", f"dcase{y}", s) for y in (2023, 2024, 2025)
        for s in ("mse", "mahalanobis")}
    assert len(cells) == 27 and len({c.run_id for c in resolved}) == 27
    assert {c["seed"] for c in resolved} == {0, 1, 2}
    assert all(c["backbone"] == "frames" and c["scorer"] == "method" for c in resolved)


# --- tiny runs on fake edition trees ------------------------------------------------------------

SR, SECONDS = 16000, 0.5  # 16 frames of hop 512: 12 windows


def wav(path: Path, seed: int, loud: float = 0.1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = loud * np.random.default_rng(seed).standard_normal(int(SR * SECONDS))
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def fake_tree(root: Path, year: int) -> list[str]:
    """One machine type (fan), one section (00), 6 source + 3 target training clips and two
    test clips of each (domain, label), named as in ``year``; returns the test file names."""
    dev, names, k = root / f"dcase{year}t2" / "dev_data" / "fan", [], 0
    for domain, n in (("source", 6), ("target", 3)):
        for i in range(n):
            k += 1
            wav(dev / "train" / f"section_00_{domain}_train_normal_{i:04d}_a_1.wav", k)
        folder = f"{domain}_test" if year == 2021 else "test"
        for label, loud in (("normal", 0.1), ("anomaly", 0.4)):
            for i in range(2):
                k += 1
                attrs = "" if year == 2021 else "_a_1"
                name = f"section_00_{domain}_test_{label}_{i:04d}{attrs}.wav"
                wav(dev / folder / name, k, loud)
                names.append(name)
    return names


@pytest.mark.parametrize("year, score", [(2021, "mse"), (2023, "mahalanobis")])
def test_tiny_run_writes_the_official_submission_files(tmp_path, year, score):
    names = fake_tree(tmp_path / "data", year)
    cfg = resolve({"dataset": f"dcase{year}", "data.root": str(tmp_path / "data"),
                   "data.types": "fan", "data.clip_seconds": SECONDS, "method": "dcase-ae",
                   "backbone": "frames", "frontend": "logmel", "recipe": f"dcase{year}",
                   "method.score": score, "train.epochs": 1, "train.device": "cpu",
                   "method.bn_momentum": 0.5}, get_registry())
    metrics, run = train_and_evaluate(cfg, tmp_path / "results", progress=False)
    sub = run.path / "submission"
    kinds = ("anomaly_score", "decision_result")
    if year == 2021:  # one file per section and domain
        expected = [f"{k}_fan_section_00_{d}_test.csv" for k in kinds for d in ("source", "target")]
    else:
        expected = [f"{k}_fan_section_00_test.csv" for k in kinds]
    assert sorted(p.name for p in sub.iterdir()) == sorted(expected)
    scores = pd.read_csv(run.path / "scores.csv").set_index("file")["score"]
    listed = []
    for path in sub.glob("anomaly_score_*.csv"):
        rows = [line.split(",") for line in path.read_text().splitlines()]
        assert all(len(r) == 2 for r in rows)  # file name, score; no header
        for name, value in rows:
            assert float(value) == pytest.approx(scores[name], rel=1e-6)
            listed.append(name)
        decisions = path.with_name(path.name.replace("anomaly_score", "decision_result"))
        rows_d = [line.split(",") for line in decisions.read_text().splitlines()]
        assert [r[0] for r in rows_d] == [r[0] for r in rows]
        assert {r[1] for r in rows_d} <= {"0", "1"}
    assert sorted(listed) == sorted(names)
    state = load_file(str(run.path / "model.safetensors"))
    fitted = [k for k in state if k.endswith("method.fitted")]
    if score == "mahalanobis":  # the covariances fitted after training are saved with it
        assert fitted and bool(state[fitted[0]])
        cov = state[next(k for k in state if k.endswith("method.cov"))]
        assert cov.shape == (1, 2, 128, 128) and not torch.equal(cov[0, 0], cov[0, 1])
        # the run folder rebuilds the model with its covariances and scores the same
        again = evaluate_run(run.path, {}, device="cpu", progress=False)
        assert again["protocols"]["dcase2022"]["average"]["official"] == pytest.approx(
            metrics["protocols"]["dcase2022"]["average"]["official"])
    else:
        assert not fitted
    info = json.loads((run.path / "config.json").read_text())
    assert info["config"]["method.score"] == score
    assert metrics["official_protocol"] == ("dcase2021" if year == 2021 else "dcase2022")
