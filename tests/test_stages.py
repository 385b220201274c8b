"""Training stages (asdbench.run.stages): a method that declares stages trains them in order,
each on its own loss, parameters and schedule, logs the stage of every epoch, checkpoints it,
and resumes in the stage it was interrupted in to the weights of an uninterrupted run."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import asdbench.plugins
import asdbench.run.pipeline
from asdbench import hookimpl
from asdbench.config import resolve
from asdbench.errors import AsdbenchError
from asdbench.model import build_model
from asdbench.plugins import load_plugins
from asdbench.registry import Component
from asdbench.run import checkpoint
from asdbench.run.loop import TrainState
from asdbench.run.pipeline import train_and_evaluate
from asdbench.run.rundir import RunDir
from asdbench.run.stages import Stage, check_trains, plan, plan_for, stage_at
from asdbench.sdk import AudioSpec, Option
from asdbench.testing import TINY_RUN

# --- a tiny two-stage method on a tiny backbone (seconds on a CPU) ----------------------------


class MeanLinear(nn.Module):
    """Frames averaged, one linear layer: the smallest backbone that learns."""

    embedding_dim = 8

    def __init__(self, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.fc = nn.Linear(in_shape[0] * in_shape[1], self.embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(-1).flatten(1) / 100)  # dB values: keep the logits small


class TwoStage(nn.Module):
    """Stage "pre" trains the backbone and ``pre_head`` (a CE on the head's outputs); stage
    "fine" trains the backbone and the class weights ``weight`` (CE on ``z @ weight.T``)."""

    mixup_alpha = None

    def __init__(self, options, num_classes, embedding_dim, frontend_info) -> None:
        super().__init__()
        self.pre_head = nn.Linear(embedding_dim, num_classes)
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.1)
        if options["staged"]:
            self.stages = (
                Stage("pre", options["pre_epochs"], loss="pre_loss",
                      trains=("backbone", "method.pre_head"), lr_scale=options["pre_lr_scale"]),
                Stage("fine", None, trains=("backbone", "method.weight")))

    def pre_loss(self, z, y_a, y_b, lam):
        return F.cross_entropy(self.pre_head(z), y_a), None

    def embed(self, z):
        return z

    def logits(self, e, labels):
        return e @ self.weight.T

    def loss(self, z, y_a, y_b, lam):
        logits = self.logits(z, None)
        return F.cross_entropy(logits, y_a), logits


class StagedPlugin:
    @hookimpl
    def asdbench_backbones(self):
        return [Component("mean-linear", lambda options, in_shape: MeanLinear(in_shape), {},
                          "test: frame mean + one linear layer")]

    @hookimpl
    def asdbench_methods(self):
        return [Component("two-stage", TwoStage, {
            "staged": True, "pre_epochs": Option(2, type=float, minimum=0),
            "pre_lr_scale": Option(3.0, above=0)}, "test: two stages")]


class Snapshots:
    """Lifecycle hooks that copy the live model's parameters before training and after each
    epoch (the live model: the one the run built, trained in place)."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.params: list[dict[str, torch.Tensor]] = []
        self.records: list[dict] = []

    def take(self) -> None:
        self.params.append({n: p.detach().clone() for n, p in self.model.named_parameters()})

    @hookimpl
    def asdbench_run_started(self, config, run_dir):
        self.take()

    @hookimpl
    def asdbench_epoch_end(self, run_dir, record):
        self.records.append(record)
        self.take()


PLUGINS = load_plugins(extra=[("staged-test", StagedPlugin())])
REGISTRY = PLUGINS.registry
BASE = {**TINY_RUN, "method": "two-stage", "backbone": "mean-linear", "train.epochs": 4,
        "train.bn_recalibrate": 0, "train.lr": 1e-2}


def cfg(**over):
    return resolve({**BASE, **over}, REGISTRY)


def run_with_snapshots(monkeypatch, results, config, **kwargs):
    """``train_and_evaluate`` with :class:`Snapshots` on the model it builds."""
    snaps = Snapshots()
    plugins = load_plugins(extra=[("staged-test", StagedPlugin()), ("snapshots", snaps)])
    monkeypatch.setattr(asdbench.plugins, "default_plugins", lambda: plugins)
    real_build = asdbench.run.pipeline.build_model

    def build(*args, **kw):
        snaps.model = real_build(*args, **kw)
        return snaps.model

    monkeypatch.setattr(asdbench.run.pipeline, "build_model", build)
    metrics, run = train_and_evaluate(config, results, progress=False,
                                      registry=plugins.registry, **kwargs)
    return metrics, run, snaps


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return run_with_snapshots(mp, tmp_path_factory.mktemp("results"), cfg())


def changed(snaps: Snapshots, name: str) -> list[bool]:
    """Whether parameter ``name`` changed in each epoch."""
    p = snaps.params
    return [not torch.equal(p[i][name], p[i + 1][name]) for i in range(len(p) - 1)]


# --- stage order, losses, parameters, schedule --------------------------------------------------


def test_stages_train_in_order_and_each_epoch_is_logged_with_its_stage(staged_run):
    metrics, run, snaps = staged_run
    log = run.read_log()
    assert [(r["epoch"], r["stage"]) for r in log] == [(0, "pre"), (1, "pre"), (2, "fine"),
                                                       (3, "fine")]
    # the hook got each record as logged, in order (as JSON: NaN is not NaN)
    assert json.dumps(snaps.records) == json.dumps(log)
    # stage "pre" trains on pre_loss, which has no class logits; "fine" on loss, which has
    assert [math.isnan(r["train_acc"]) for r in log] == [True, True, False, False]
    assert metrics["stages"] == [{"name": "pre", "first_epoch": 0, "epochs": 2},
                                 {"name": "fine", "first_epoch": 2, "epochs": 2}]
    assert metrics["best_epoch"] in (2, 3)  # selected from the final stage only
    assert torch.load(run.state_path, weights_only=True)["stage"] == 1


def test_each_stage_updates_only_the_parameters_it_names(staged_run):
    _, _, snaps = staged_run
    assert changed(snaps, "backbone.fc.weight") == [True] * 4
    assert changed(snaps, "method.pre_head.weight") == [True, True, False, False]
    assert changed(snaps, "method.weight") == [False, False, True, True]
    # the stages froze parameters for the run only: the trained model is trainable again
    assert all(p.requires_grad for p in snaps.model.parameters())


def test_each_stage_has_its_own_learning_rate_and_cosine_schedule(staged_run):
    metrics, run, _ = staged_run
    lr, eta = BASE["train.lr"], metrics["config"]["train.eta_min_factor"]

    def cosine(lr0: float, k: int, epochs: int) -> float:  # after epoch k of the stage
        low = eta * lr0
        return low + (lr0 - low) * (1 + math.cos(math.pi * (k + 1) / epochs)) / 2

    expected = [cosine(3 * lr, 0, 2), cosine(3 * lr, 1, 2), cosine(lr, 0, 2), cosine(lr, 1, 2)]
    assert [r["lr"] for r in run.read_log()] == pytest.approx(expected, rel=1e-12)


def test_one_stage_that_trains_everything_is_the_run_without_stages(monkeypatch, tmp_path):
    """pre_epochs = 0 skips stage "pre"; "fine" then takes every epoch at train.lr, as a
    method without stages (no live decay: the stage-less one also shrinks pre_head)."""
    over = {"method.pre_epochs": 0, "train.live_weight_decay": 0.0}
    _, staged, _ = run_with_snapshots(monkeypatch, tmp_path / "a", cfg(**over))
    _, plain, _ = run_with_snapshots(monkeypatch, tmp_path / "b",
                                     cfg(**over, **{"method.staged": False}))
    assert [r["stage"] for r in staged.read_log()] == ["fine"] * 4
    assert all("stage" not in r for r in plain.read_log())
    assert "stage" not in torch.load(plain.state_path, weights_only=True)
    assert "stages" not in json.loads(plain.metrics_path.read_text())
    assert staged.model_path.read_bytes() == plain.model_path.read_bytes()


# --- resume at either stage -----------------------------------------------------------------


@pytest.mark.parametrize("saves", [1, 2, 3], ids=["in-stage-1", "between-stages", "in-stage-2"])
def test_resume_in_either_stage_gives_the_uninterrupted_weights(staged_run, saves, tmp_path,
                                                                monkeypatch, killed_after_saves):
    _, whole, _ = staged_run
    with killed_after_saves(saves) as saved:
        run_with_snapshots(monkeypatch, tmp_path, cfg())
    # the stage each checkpoint was written in
    assert [s.get("stage") for s in saved] == [0, 0, 1][:saves]
    _, resumed, snaps = run_with_snapshots(monkeypatch, tmp_path, cfg(), resume=True)
    assert [r["epoch"] for r in snaps.records] == list(range(saves, 4))
    assert [r["stage"] for r in resumed.read_log()] == ["pre", "pre", "fine", "fine"]
    assert resumed.model_path.read_bytes() == whole.model_path.read_bytes()
    final = torch.load(resumed.state_path, weights_only=True)
    expected = torch.load(whole.state_path, weights_only=True)
    for part in ("model", "ema"):
        assert final[part].keys() == expected[part].keys()
        assert all(torch.equal(final[part][k], expected[part][k]) for k in final[part])


def test_a_checkpoint_of_another_stage_layout_is_refused(staged_run, tmp_path):
    _, whole, _ = staged_run
    run = RunDir.for_run(tmp_path, cfg(**{"method.staged": False}).run_id)
    run.path.mkdir(parents=True)
    state = torch.load(whole.state_path, weights_only=True)
    torch.save({**state, "run_id": run.name}, run.state_path)
    with pytest.raises(AsdbenchError, match="does not fit the run's model .*with training "
                                            "stages, for a method without them"):
        train_and_evaluate(cfg(**{"method.staged": False}), tmp_path, resume=True,
                           progress=False, registry=REGISTRY)
    torch.save({**state, "stage": "1"}, tmp_path / "bad.pt")
    with pytest.raises(AsdbenchError, match=r"not a training state of this version \(bad stage"):
        checkpoint.load(tmp_path / "bad.pt", state["run_id"])


# --- the plan of a run's epochs -------------------------------------------------------------


def spans(stages, total):
    return [(s.stage.name, s.start, s.end, s.final) for s in plan(stages, total)]


def test_plan_places_counts_shares_and_the_rest():
    assert spans([Stage("a", 3), Stage("b")], 10) == [("a", 0, 3, False), ("b", 3, 10, True)]
    assert spans([Stage("a", 0.25), Stage("b")], 400) == [("a", 0, 100, False),
                                                          ("b", 100, 400, True)]
    assert spans([Stage("a", 0.25), Stage("b")], 2) == [("a", 0, 1, False), ("b", 1, 2, True)]
    assert spans([Stage("a"), Stage("b", 2.0)], 5) == [("a", 0, 3, False), ("b", 3, 5, True)]
    # a stage of 0 epochs is skipped: the next one trains epoch 0
    placed = plan([Stage("a", 0), Stage("b", 1), Stage("c")], 4)
    assert [stage_at(placed, e).stage.name for e in range(4)] == ["b", "c", "c", "c"]
    with pytest.raises(ValueError, match="past the last stage"):
        stage_at(placed, 4)


@pytest.mark.parametrize("stages, total, message", [
    ([Stage("a", 2), Stage("b", 2)], 5, "take 4 epochs; train.epochs is 5"),
    ([Stage("a", 6), Stage("b")], 5, "take 6 epochs before stage 'b'"),
    ([Stage("a"), Stage("b")], 5, "only one stage may take the remaining epochs"),
    ([Stage("a", 5), Stage("b")], 5, "leaves no epoch for its final stage 'b'"),
    ([Stage("a", -1), Stage("b")], 5, "stage 'a' epochs must be >= 0"),
    ([Stage("a", 1.5), Stage("b")], 5, r"whole number or a share in \(0, 1\)"),
    ([Stage("a", True), Stage("b")], 5, "must be a number or None"),
    ([Stage("a", 1), Stage("a")], 5, "stage names must differ"),
    ([], 5, "at least one stage"),
])
def test_plan_refuses_what_does_not_fit(stages, total, message):
    with pytest.raises(AsdbenchError, match=message):
        plan(stages, total, "method m")


def test_a_bad_declaration_is_one_line_naming_the_stage():
    class Declared:
        stages = (Stage("pre", 1, loss="missing"), Stage("fine"))

        def loss(self):
            pass

    with pytest.raises(AsdbenchError, match="stage 'pre' trains on loss 'missing', which"):
        plan_for(Declared(), 4)
    Declared.stages = ("pre", "fine")
    with pytest.raises(AsdbenchError, match="stages must be asdbench.sdk.Stage, got str"):
        plan_for(Declared(), 4)
    assert plan_for(object(), 4) is None  # no stages: the engine's one stage
    names = ["frontend", "backbone", "method", "method.head", "method.head.weight"]
    check_trains(Stage("s", trains=("backbone", "method.head")), names)
    with pytest.raises(AsdbenchError, match="stage 's' trains method.haed, not a part"):
        check_trains(Stage("s", trains=("method.haed",)), names)
    with pytest.raises(AsdbenchError, match="trains must be a tuple of names"):
        check_trains(Stage("s", trains="backbone"), names)


def test_a_stage_naming_an_unknown_part_fails_before_training():
    model = build_model(cfg(), REGISTRY, AudioSpec(clip_seconds=1.0), 4)
    model.method.stages = (Stage("pre", 1, trains=("backbone.conv",)), Stage("fine"))
    with pytest.raises(AsdbenchError, match="stage 'pre' trains backbone.conv, not a part"):
        TrainState.create(model, cfg(), torch.device("cpu"))
