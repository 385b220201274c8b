"""The training loop of a run, in the spirit of nanoGPT's.

Every setting is read once from ``cfg.train``. Tensors are indexed per batch (features cached:
mixup mixes them directly), autocast as ``train.amp`` says, an EMA of the weights after each
step (``train.ema``; without it the eager copy is the live weights, synced before each
validation); after each epoch that copy is validated (optionally with recomputed BatchNorm
statistics), the best one by validation CE is saved, and the whole state is checkpointed
atomically so an interrupted run resumes to the same result. When compiling, only the live
model is compiled: the eager copy is the one that is validated, selected and evaluated.
A method that declares training stages trains them in order (:class:`~asdbench.run.stages.StagePlan`
holds their state), each with its own optimiser, loss and parameters; the checkpoint records
the stage, and only the final stage's epochs are selected from.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from asdbench.config import RunConfig, TrainSettings
from asdbench.ema import WeightEMA
from asdbench.model import ASDModel
from asdbench.progress import make_progress
from asdbench.registry import AsdbenchError
from asdbench.run import checkpoint
from asdbench.run.device import autocast, precision
from asdbench.run.evaluate import recalibrate_batchnorm, validation_loss
from asdbench.run.rundir import RunDir
from asdbench.run.stages import StagePlan, StageSpan, stage_loss
from asdbench.run.tensors import Split
from asdbench.speed import prepare_for_speed, speed_options


def make_optimizer(model: nn.Module, train: TrainSettings,
                   params: list[nn.Parameter] | None = None,
                   lr: float | None = None) -> torch.optim.Optimizer:
    """The paper's optimiser: AdamW (torch's default betas) at ``train.lr`` over every
    parameter (or ``params`` at ``lr``: a stage's); the fused implementation (one kernel, same
    update) when the parameters are on CUDA. A parameter carrying ``lr_scale`` (a pretrained
    encoder's, say) trains in its own group at ``lr`` times it; the first group is unscaled."""
    params = list(model.parameters()) if params is None else params
    fused = bool(params) and all(p.is_cuda for p in params)
    lr = train.lr if lr is None else lr
    scales: dict[float, list[nn.Parameter]] = {1.0: []}
    for p in params:
        scales.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    groups = [{"params": ps, "lr": lr * s} for s, ps in scales.items() if ps or s == 1.0]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=train.weight_decay,
                             fused=fused or None)


@dataclass
class TrainState:
    """Everything an epoch changes, i.e. what a checkpoint holds."""

    model: ASDModel  # trained in place; its frontend and backbone compiled with train.compile
    ema_model: ASDModel  # the eager copy (EMA, or the live weights): validated, selected, evaluated
    ema: WeightEMA
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    gen: torch.Generator  # epoch permutations and mixup permutations
    rng: np.random.Generator  # mixup's λ
    train: TrainSettings  # what each stage's optimiser is made from
    stages: StagePlan
    epoch: int = 0  # epochs finished
    best: float = math.inf  # validation CE of the selected model
    best_epoch: int = -1

    @classmethod
    def create(cls, model: ASDModel, cfg: RunConfig, device: torch.device,
               total_steps: int | None = None) -> TrainState:
        """Apply the configured speed-ups to ``model`` (in place), copy it for the EMA before
        compiling, and make the optimiser, schedule and generators (those of the first stage
        for a method with stages). Whether the model was compiled is
        ``"compile" in model.asdbench_speed``."""
        t = cfg.train
        plan = StagePlan.for_model(model, t.epochs, t.live_weight_decay, f"method {cfg.method}")
        speed = speed_options(t, total_steps)
        prepare_for_speed(model, device, channels_last=speed["channels_last"])
        ema_model = copy.deepcopy(model)
        if speed["compile"]:
            if t.compile == "auto":
                # chosen for the user: a graph the compiler cannot handle runs eagerly instead
                from torch import _dynamo  # noqa: PLC0415 - the compiler: slow, compile only

                _dynamo.config.suppress_errors = True
            prepare_for_speed(model, device, channels_last=False, compile=True)
        # with stages the live decay is the stage's own (StagePlan.after_step): of what it trains
        ema = WeightEMA(model, ema_model, t.ema_decay, 0.0 if plan.staged else t.live_weight_decay,
                        t.ema_warmup, enabled=t.ema)
        opt = make_optimizer(model, t)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=t.sched_t_max or t.epochs, eta_min=t.eta_min_factor * t.lr)
        state = cls(model, ema_model, ema, opt, sched, torch.Generator().manual_seed(cfg.seed),
                    np.random.default_rng(cfg.seed), t, plan)
        if plan.staged:
            state.use_stage(plan.at(0).index)
        return state

    def use_stage(self, index: int) -> None:
        """Enter stage ``index`` with a fresh optimiser and schedule, as at its start."""
        t, span = self.train, self.stages.spans[index]
        params = self.stages.enter(self.model, index)
        lr = t.lr * span.stage.lr_scale
        self.opt = make_optimizer(self.model, t, params, lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=t.sched_t_max or span.epochs, eta_min=t.eta_min_factor * lr)

    def span(self) -> StageSpan | None:
        """The stage that trains the next epoch, its optimiser made (None: no stages)."""
        span = self.stages.at(self.epoch)
        if span is not None and span.index != self.stages.current:
            self.use_stage(span.index)
        return span

    def state_dict(self, run_id: str) -> dict[str, Any]:
        state = {"run_id": run_id, "epoch": self.epoch - 1, "best": self.best,
                 "best_epoch": self.best_epoch, "model": self.model.state_dict(),
                 "ema": self.ema_model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "torch_rng": self.gen.get_state(),
                 "ema_steps": self.ema.steps,
                 "numpy_rng": json.dumps(self.rng.bit_generator.state)}
        if self.stages.staged:  # the stage the optimiser state belongs to
            state["stage"] = self.stages.current
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        stage = self.stages.checkpointed(state)
        if stage is not None:
            self.use_stage(stage)
        self.model.load_state_dict(state["model"])
        self.ema_model.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["torch_rng"])
        self.ema.steps = int(state["ema_steps"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])
        self.epoch, self.best, self.best_epoch = (state["epoch"] + 1, state["best"],
                                                  state["best_epoch"])


def mix_batch(wave: torch.Tensor, feats: torch.Tensor, y: torch.Tensor, alpha: float,
              rng: np.random.Generator, gen: torch.Generator):
    """Mixup of a batch with one permutation and λ ~ Beta(α, α) (the authors' recipe):
    waveforms and cached features are mixed alike. Returns (wave, feats, y, y_b, λ)."""
    lam = float(rng.beta(alpha, alpha))
    p = torch.randperm(len(y), generator=gen)
    if y.is_cuda:  # from pinned memory the copy is queued; from pageable memory it syncs
        p = p.pin_memory().to(y.device, non_blocking=True)
    return lam * wave + (1 - lam) * wave[p], lam * feats + (1 - lam) * feats[p], y, y[p], lam


def train_step(model: ASDModel, opt: torch.optim.Optimizer, ema: WeightEMA, wave: torch.Tensor,
               feats: torch.Tensor, y: torch.Tensor, y_b: torch.Tensor, lam: float,
               device: torch.device, amp: Any, loss_fn: Callable[..., Any] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimisation step (forward, backward, AdamW, EMA) on ``model.loss`` (or
    ``loss_fn``, called alike: a stage's); returns the detached loss and logits (None for a
    method without class logits). No host synchronisation: nothing here reads a value back
    from the device."""
    with autocast(device, amp, training=True):
        loss, logits = (loss_fn or model.loss)(wave, feats, y, y_b, lam)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ema.step()
    return loss.detach(), None if logits is None else logits.detach()


def steps_per_epoch(n: int, train: TrainSettings) -> int:
    """Optimiser steps of an epoch over ``n`` clips; a last batch of 1 (which would break
    BatchNorm) is dropped."""
    steps = n // train.batch_size + (1 if n % train.batch_size >= 2 else 0)
    return min(steps, train.max_steps_per_epoch) if train.max_steps_per_epoch else steps


def train_epoch(state: TrainState, split: Split, steps: int, train: TrainSettings,
                device: torch.device, tick: Callable[[], None],
                span: StageSpan | None = None) -> dict[str, float]:
    """One pass over ``split`` in the epoch's random order (on the loss of stage ``span``);
    mean loss and accuracy (NaN for a method without class logits), speed."""
    model, method, bs = state.model, state.model.method, train.batch_size
    loss_fn = stage_loss(model, span.stage if span else None)
    model.train()
    t0 = time.perf_counter()
    # indices live where the data does: slicing them per step copies nothing
    perm = torch.randperm(len(split), generator=state.gen).to(split.waves.device)
    loss_sum = torch.zeros((), device=device)
    acc_sum = torch.zeros((), device=device)
    seen = acc_steps = 0
    for step in range(steps):
        idx = perm[step * bs:(step + 1) * bs]
        wave, feats, y = split.batch(idx, device)
        y_b, lam = y, 1.0
        if method.mixup_alpha:  # None or 0: no mixup
            wave, feats, y, y_b, lam = mix_batch(wave, feats, y, method.mixup_alpha,
                                                 state.rng, state.gen)
        loss, logits = train_step(model, state.opt, state.ema, wave, feats, y, y_b, lam,
                                  device, train.amp, loss_fn)
        state.stages.after_step()
        loss_sum += loss.float()
        if logits is not None:
            acc_sum += (logits.argmax(1) == y).float().mean()
            acc_steps += 1
        seen += len(idx)
        tick()
    if state.epoch - (span.start if span else 0) >= train.sched_start_epoch:
        state.sched.step()  # after the epoch, from epoch train.sched_start_epoch of the stage
    train_time = time.perf_counter() - t0
    return {"lr": state.opt.param_groups[0]["lr"], "train_loss": (loss_sum / steps).item(),
            "train_acc": (acc_sum / acc_steps).item() if acc_steps else math.nan,
            "clips_per_s": seen / train_time,
            "epoch_time_s": train_time}


def validate(state: TrainState, train_split: Split, val_split: Split, train: TrainSettings,
             device: torch.device) -> tuple[ASDModel, float, float, float]:
    """The eager copy as evaluated (the EMA, or the live weights without ``train.ema``; BN
    statistics recomputed with ``train.bn_recalibrate``) and its validation CE, accuracy and
    accuracy without the margin (``validation_loss``)."""
    state.ema.sync()
    evaluated = state.ema_model
    if train.bn_recalibrate:
        evaluated = recalibrate_batchnorm(copy.deepcopy(state.ema_model), train_split,
                                          train.bn_recalibrate, train.batch_size, device,
                                          train.amp)
    val_loss, val_acc, plain = validation_loss(evaluated, val_split, train.batch_size, device,
                                               train.amp)
    return evaluated, val_loss, val_acc, plain


def epoch_line(record: dict[str, Any], epochs: int, selected: bool) -> str:
    """The line printed after each epoch (``*``: the model selected so far), led by the
    stage's name for a method with stages."""
    stage = f"{record['stage']}  " if "stage" in record else ""
    return (f"{stage}epoch {record['epoch'] + 1:>3}/{epochs}  loss {record['train_loss']:.4f}  "
            f"acc {record['train_acc']:.3f}  val {record['val_loss']:.4f}  "
            f"val acc {record['val_acc_no_margin']:.3f}  "
            f"{record['clips_per_s']:.1f} clips/s  {record.get('epoch_wall_s', 0.0):.1f} s"
            + ("  *" if selected else ""))


def trains(model: ASDModel) -> bool:
    """Whether the engine trains ``model``: not when its method says ``trains = False`` (a
    non-learned reference) or when nothing in it is trainable."""
    return (getattr(model.method, "trains", True) is not False
            and any(p.requires_grad for p in model.parameters()))


def untrained(model: ASDModel, run: RunDir) -> tuple[ASDModel, dict]:
    """A model the engine does not train (``trains``; e.g. the stats/gaussian reference):
    nothing to train or select; its state is saved as the model, the train log stays empty."""
    run.clear_log()
    run.save_model(model.state_dict())
    return model.eval(), {"best_epoch": -1, "best_val_loss": math.inf, "epochs": 0,
                          "speed": []}


def select_on_test(state: TrainState, t: TrainSettings, span: StageSpan | None,
                   evaluated: ASDModel, test_metric: Callable[[ASDModel], float] | None,
                   record: dict[str, Any]) -> bool:
    """``train.select = "test"``: on every ``train.select_every``-th epoch of the stage (from
    its first), the test number of ``evaluated`` (``test_metric``, higher is better) goes into
    ``record``; selected when it is at least the best so far (ties: the later epoch, as
    STgram-MFN's ``>=``). ``state.best`` holds its negative."""
    if test_metric is None:
        raise AsdbenchError("train.select=test needs labelled development test clips to "
                            "select on; this run has none (use train.select=last or val_ce)")
    if (state.epoch - (span.start if span else 0)) % t.select_every:
        return False
    value = float(test_metric(evaluated))
    record["test_selection"] = value
    return -value <= state.best


def run_epoch(state: TrainState, t: TrainSettings, train_split: Split, val_split: Split,
              run: RunDir, device: torch.device, steps: int, tick: Callable[[], None],
              test_metric: Callable[[ASDModel], float] | None = None
              ) -> tuple[dict[str, Any], bool]:
    """Train and validate the next epoch (in its stage), saving the model when it is the one
    selected so far (only the final stage's epochs are candidates); its log record and
    whether it was selected. ``test_metric``: the number ``train.select = "test"`` selects
    on (:func:`select_on_test`)."""
    epoch, t0 = state.epoch, time.perf_counter()
    span = state.span()
    stats = train_epoch(state, train_split, steps, t, device, tick, span)
    evaluated, val_loss, val_acc, plain = validate(state, train_split, val_split, t, device)
    record = {"epoch": epoch, **({} if span is None else {"stage": span.stage.name}),
              "lr": stats["lr"], "train_loss": stats["train_loss"],
              "train_acc": stats["train_acc"], "val_loss": val_loss, "val_acc": val_acc,
              "val_acc_no_margin": plain,
              "clips_per_s": stats["clips_per_s"], "epoch_time_s": stats["epoch_time_s"]}
    if not math.isfinite(record["train_loss"]):
        raise AsdbenchError(f"training diverged at epoch {epoch}: loss is "
                            f"{record['train_loss']} (lower train.lr?)")
    final = span is None or span.final
    if t.select == "test":
        selected = final and select_on_test(state, t, span, evaluated, test_metric, record)
        best = -record.get("test_selection", 0.0)
    else:
        selected = final and (t.select == "last" or len(val_split) == 0
                              or val_loss < state.best)
        best = val_loss if len(val_split) else state.best
    if selected:
        state.best = best
        state.best_epoch = epoch
        run.save_model(evaluated.state_dict())
    record["epoch_wall_s"] = time.perf_counter() - t0  # + validation, model file
    return record, selected


def fit(cfg: RunConfig, model: ASDModel, train_split: Split, val_split: Split, run: RunDir,
        device: torch.device, *, resume: bool, progress: bool,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        test_metric: Callable[[ASDModel], float] | None = None) -> tuple[ASDModel, dict]:
    """Train ``model`` in place (stage after stage for a method with stages), checkpointing
    every epoch; the selected weights go to ``model.safetensors``. Returns an eager model
    holding them, and a summary. ``test_metric``: what ``train.select = "test"`` selects on
    (higher is better; it reads test labels)."""
    t = cfg.train
    if not trains(model):
        return untrained(model, run)
    steps = steps_per_epoch(len(train_split), t)
    if steps == 0:  # else the loss of an empty epoch reads as a diverged run
        raise AsdbenchError(f"too few training clips: {len(train_split)} left for training after "
                            "the validation split; a run needs at least 2 (see asdbench data check)")
    state = TrainState.create(model, cfg, device, total_steps=steps * t.epochs)
    if resume and run.state_path.exists():
        checkpoint.restore(state, run.state_path, cfg.run_id)  # one line if it does not fit
        run.keep_log(state.epoch)  # the log holds exactly the finished epochs
    else:
        run.clear_log()
    bar = make_progress(enabled=progress)
    with bar:
        task = bar.add_task("training", total=(t.epochs - state.epoch) * steps)
        while state.epoch < t.epochs:
            tick = partial(bar.update, task, advance=1,
                           description=f"epoch {state.epoch + 1}/{t.epochs}")
            record, selected = run_epoch(state, t, train_split, val_split, run, device, steps,
                                         tick, test_metric)
            run.append_log(record)
            state.epoch += 1
            checkpoint.save(state.state_dict(cfg.run_id), run.state_path)
            if progress:
                bar.console.print(epoch_line(record, t.epochs, selected))
            if on_epoch is not None:
                on_epoch(record)
    state.stages.release(state.model)
    # evaluation shapes differ from training ones: evaluate the eager copy, not the compiled one
    state.ema_model.load_state_dict(run.load_model(device))
    summary = {"best_epoch": state.best_epoch, "best_val_loss": state.best, "epochs": t.epochs,
               "numeric_precision": precision(device, t.amp),
               **({"selected_on_test": True, "best_test_selection": -state.best}
                  if t.select == "test" else {}),
               "speed": list(getattr(model, "asdbench_speed", []))}
    if state.stages.staged:
        summary["stages"] = state.stages.summary()
    return state.ema_model, summary
