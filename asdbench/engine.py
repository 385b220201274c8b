"""Training and evaluation of one run: the main job behind ``asdbench run``.

One short loop in the spirit of nanoGPT: data decoded once and cached, features computed once
(mixup mixes them directly), tensors indexed per batch (resident on the GPU when they fit),
bf16 autocast on CUDA, EMA of the weights, model selection by validation CE of the EMA model,
an atomic checkpoint every epoch so an interrupted run resumes to the same result.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from asdbench import __version__
from asdbench.atomic import atomic_path, atomic_write_text
from asdbench.cache import INT16_SCALE, load_features, load_waveforms
from asdbench.config import component_options, run_id
from asdbench.data import TEST, TRAIN, AudioSpec, Clip
from asdbench.ema import WeightEMA
from asdbench.metrics import compute_all, write_submission
from asdbench.model import ASDModel, build_model
from asdbench.plugins import get_registry
from asdbench.progress import make_progress
from asdbench.registry import AsdbenchError, Registry
from asdbench.scoring import ScoringInputs
from asdbench.speed import prepare_for_speed

STATE_FILE = "state.pt"  # resumable training state (weights_only-loadable)
MODEL_FILE = "model.safetensors"  # the selected EMA model
EMBEDDINGS_FILE = "train_embeddings.safetensors"  # what scorers are fitted on


# --- devices -----------------------------------------------------------------------------


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; a CUDA device that is not there is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AsdbenchError(f"--device: unknown device '{name}' (use auto, cpu, cuda, cuda:K)") \
            from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise AsdbenchError(f"--device {name}: no such CUDA device "
                                f"({count} visible on this machine)")
    return device


# --- data -------------------------------------------------------------------------------


@dataclass
class Split:
    """Waveforms (int16), cached features (float32) and class labels of a set of clips."""

    clips: list[Clip]
    waves: torch.Tensor
    feats: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.clips)

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, ...]:
        idx = idx.to(self.waves.device)
        wave = self.waves[idx].to(device, non_blocking=True).float().div_(INT16_SCALE)
        feats = self.feats[idx].to(device, non_blocking=True).float()
        return wave, feats, self.labels[idx].to(device, non_blocking=True)

    def subset(self, idx: np.ndarray) -> Split:
        t = torch.as_tensor(idx)
        return Split([self.clips[i] for i in idx], self.waves[t], self.feats[t], self.labels[t])


def _to_split(clips, waves, feats, class_index: dict[str, int], device) -> Split:
    labels = torch.tensor([class_index.get(c.class_key, -1) for c in clips], dtype=torch.long)
    with warnings.catch_warnings():  # read-only memmaps: only ever indexed (copied), never written
        warnings.simplefilter("ignore", UserWarning)
        w, f = torch.from_numpy(np.asarray(waves)), torch.from_numpy(np.asarray(feats))
    return Split(list(clips), w.to(device), f.to(device), labels.to(device))


def _fits_on(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < 0.6 * free


def prepare_data(cfg: dict[str, Any], registry: Registry, device: torch.device,
                 progress: bool = True):
    """Dataset → decoded, cached waveforms and features → train/val/test splits and classes."""
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    audio: AudioSpec = dataset.audio
    clips = dataset.clips()
    train_clips = [c for c in clips if c.split == TRAIN]
    if not train_clips:
        raise AsdbenchError(f"dataset '{cfg['dataset']}' has no training clips")
    train_w = load_waveforms(train_clips, audio, progress=progress)
    classes = sorted({c.class_key for c in train_w.clips})
    # Unlabelled test clips (evaluation sets) are scored for the submission files and left out
    # of the metrics; clips of a machine never seen in training cannot be scored at all.
    known = set(classes)
    test_clips = [c for c in clips if c.split == TEST and c.class_key in known]
    unseen = sum(1 for c in clips if c.split == TEST and c.class_key not in known)
    if unseen:
        dataset.report.add(f"{unseen} test clips", "test clips of machines with no training "
                           "clips: skipped")
    test_w = load_waveforms(test_clips, audio, progress=progress)
    return dataset, audio, train_w, test_w, classes


def _split_train_val(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """95/5 random split of the training clips (validation = normal clips only)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction)) if fraction > 0 else 0
    n_val = min(max(n_val, 1 if fraction > 0 and n > 2 else 0), n - 2)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# --- provenance --------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(device: torch.device) -> dict[str, Any]:
    import sklearn  # noqa: PLC0415

    info = {"asdbench": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "git_commit": _git_commit(),
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# --- training ----------------------------------------------------------------------------


def amp_enabled(device: torch.device, amp: Any) -> bool:
    """Whether ``train.amp`` means bf16 autocast on ``device`` ("auto": on CUDA only)."""
    return device.type == "cuda" if amp == "auto" else amp in (True, "bf16", "true")


def _autocast(device: torch.device, amp: Any):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_enabled(device, amp))


@torch.no_grad()
def validation_loss(model: ASDModel, split: Split, batch_size: int, device, amp) -> tuple[float, float]:
    """Mean CE and accuracy of ``model`` on unmixed clips, averaged over batches (as the authors)."""
    model.eval()
    losses, accs = [], []
    for start in range(0, len(split), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(split)))
        wave, feats, y = split.batch(idx, device)
        with _autocast(device, amp):
            _, logits = model.infer(wave, feats, y)
        logits = logits.float()
        losses.append(F.cross_entropy(logits, y))
        accs.append((logits.argmax(1) == y).float().mean())
    if not losses:
        return float("nan"), float("nan")
    return torch.stack(losses).mean().item(), torch.stack(accs).mean().item()


@torch.no_grad()
def recalibrate_batchnorm(model: ASDModel, split: Split, batches: int, batch_size: int, device,
                          amp) -> ASDModel:
    """Recompute BatchNorm statistics of ``model`` on its first ``batches`` training batches.

    Not in the paper (for short runs): BN running statistics follow the weights with momentum
    0.1, and the unnormalised log-Mel (dB) input makes the first ones far off, which a
    300-epoch run forgets but a few-minute run does not.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen
    model.train()
    for start in range(0, min(len(split), batches * batch_size), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(split)))
        if len(idx) < 2:
            break
        wave, feats, _ = split.batch(idx, device)
        with _autocast(device, amp):
            model(wave, feats)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
    return model.eval()


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _atomic_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))


def make_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """The paper's optimiser: AdamW (torch's default betas) at ``train.lr``; the fused
    implementation (one kernel, same update) when the parameters are on CUDA."""
    params = list(model.parameters())
    fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(params, lr=float(cfg["train.lr"]),
                             weight_decay=float(cfg["train.weight_decay"]), fused=fused or None)


# train.compile=auto compiles when a run is long enough to win back the compilation (a minute
# or two): the DCASE recipe's ~180,000 steps, not a few hundred steps of a CPU-sized run.
COMPILE_AUTO_MIN_STEPS = 5000


def speed_options(cfg: dict[str, Any], device: torch.device,
                  total_steps: int | None = None) -> dict[str, Any]:
    """``prepare_for_speed`` keywords from ``train.channels_last`` / ``train.compile``.

    ``train.compile="auto"`` means compile when ``total_steps`` (optimiser steps of the whole
    run) reaches ``COMPILE_AUTO_MIN_STEPS``; unknown ``total_steps`` means no.
    """
    del device  # the same choice everywhere for now; kept for per-device defaults
    # values checked by config.check_engine_settings: "auto", True or False
    out = {key: cfg.get(f"train.{key}", "auto") for key in ("channels_last", "compile")}
    if out["channels_last"] == "auto":
        out["channels_last"] = None  # prepare_for_speed decides: on with 2-D convolutions
    if out["compile"] == "auto":
        out["compile"] = total_steps is not None and total_steps >= COMPILE_AUTO_MIN_STEPS
    return out


def prepare_training(model: ASDModel, cfg: dict[str, Any], device: torch.device,
                     total_steps: int | None = None
                     ) -> tuple[ASDModel, WeightEMA, torch.optim.Optimizer]:
    """Apply the configured speed-ups to ``model`` (in place) and make its EMA copy and its
    optimiser. The EMA copy is taken before compiling: evaluation runs it eagerly. Whether
    the model was compiled is in ``"compile" in model.asdbench_speed``."""
    speed = speed_options(cfg, device, total_steps)
    prepare_for_speed(model, device, channels_last=speed["channels_last"])
    ema_model = copy.deepcopy(model)
    if speed["compile"]:
        if cfg.get("train.compile") == "auto":
            # chosen for the user: a graph the compiler cannot handle runs eagerly instead
            import torch._dynamo  # noqa: PLC0415

            torch._dynamo.config.suppress_errors = True
        prepare_for_speed(model, device, channels_last=False, compile=True)
    ema = WeightEMA(model, ema_model, float(cfg["train.ema_decay"]),
                    float(cfg["train.live_weight_decay"]), bool(cfg["train.ema_warmup"]))
    return ema_model, ema, make_optimizer(model, cfg)


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
               device: torch.device, amp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (forward, backward, AdamW, EMA); returns the detached loss and
    logits. No host synchronisation: nothing here reads a value back from the device."""
    with _autocast(device, amp):
        loss, logits = model.loss(wave, feats, y, y_b, lam)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ema.step()
    return loss.detach(), logits.detach()


def train(cfg: dict[str, Any], model: ASDModel, train_split: Split, val_split: Split,
          run_dir: Path, device: torch.device, *, resume: bool, progress: bool) -> dict[str, Any]:
    """Train ``model`` in place; returns a summary. The selected EMA weights go to MODEL_FILE."""
    epochs = int(cfg["train.epochs"])
    bs = int(cfg["train.batch_size"])
    lr = float(cfg["train.lr"])
    amp = cfg["train.amp"]
    max_steps = int(cfg["train.max_steps_per_epoch"])
    recal_batches = int(cfg["train.bn_recalibrate"])
    method = model.method
    n = len(train_split)
    steps = n // bs + (1 if n % bs >= 2 else 0)  # a last batch of 1 would break BatchNorm
    if max_steps:
        steps = min(steps, max_steps)
    ema_model, ema, opt = prepare_training(model, cfg, device, total_steps=steps * epochs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=epochs, eta_min=float(cfg["train.eta_min_factor"]) * lr)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    rng = np.random.default_rng(int(cfg["seed"]))
    start_epoch, best, best_epoch = 0, math.inf, -1
    state_path, log_path = run_dir / STATE_FILE, run_dir / "train_log.jsonl"

    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state.get("run_id") != run_id(cfg):
            raise AsdbenchError(f"{state_path}: checkpoint belongs to run {state.get('run_id')}, "
                                f"not {run_id(cfg)}")
        model.load_state_dict(state["model"])
        ema_model.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["torch_rng"])
        ema.steps = int(state["ema_steps"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        start_epoch, best, best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
        # The log holds exactly the finished epochs.
        lines = log_path.read_text().splitlines()[:start_epoch] if log_path.exists() else []
        atomic_write_text(log_path, "".join(line + "\n" for line in lines))
    elif log_path.exists():
        log_path.unlink()

    bar = make_progress(enabled=progress)
    with bar:
        task = bar.add_task("train", total=(epochs - start_epoch) * steps)
        for epoch in range(start_epoch, epochs):
            model.train()
            t0 = time.perf_counter()
            # indices live where the data does: slicing them per step copies nothing
            perm = torch.randperm(n, generator=gen).to(train_split.waves.device)
            loss_sum = torch.zeros((), device=device)
            acc_sum = torch.zeros((), device=device)
            seen = 0
            for step in range(steps):
                idx = perm[step * bs:(step + 1) * bs]
                wave, feats, y = train_split.batch(idx, device)
                y_b, lam = y, 1.0
                if method.mixup_alpha:  # None or 0: no mixup
                    wave, feats, y, y_b, lam = mix_batch(wave, feats, y, method.mixup_alpha,
                                                         rng, gen)
                loss, logits = train_step(model, opt, ema, wave, feats, y, y_b, lam, device, amp)
                loss_sum += loss.float()
                acc_sum += (logits.argmax(1) == y).float().mean()
                seen += len(idx)
                bar.update(task, advance=1, description=f"epoch {epoch + 1}/{epochs}")
            sched.step()
            train_time = time.perf_counter() - t0
            evaluated = ema_model
            if recal_batches:
                evaluated = recalibrate_batchnorm(copy.deepcopy(ema_model), train_split,
                                                  recal_batches, bs, device, amp)
            val_loss, val_acc = validation_loss(evaluated, val_split, bs, device, amp)
            record = {"epoch": epoch, "lr": opt.param_groups[0]["lr"],
                      "train_loss": (loss_sum / steps).item(), "train_acc": (acc_sum / steps).item(),
                      "val_loss": val_loss, "val_acc": val_acc,
                      "clips_per_s": seen / train_time, "epoch_time_s": train_time}
            if not math.isfinite(record["train_loss"]):
                raise AsdbenchError(f"training diverged at epoch {epoch}: loss is "
                                    f"{record['train_loss']} (lower train.lr?)")
            selected = (cfg["train.select"] == "last" or len(val_split) == 0
                        or val_loss < best)
            if selected:
                best, best_epoch = (val_loss if len(val_split) else best), epoch
                _atomic_safetensors(evaluated.state_dict(), run_dir / MODEL_FILE)
            record["epoch_wall_s"] = time.perf_counter() - t0  # + validation, model file
            with log_path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            _atomic_torch_save({
                "run_id": run_id(cfg), "epoch": epoch, "best": best, "best_epoch": best_epoch,
                "model": model.state_dict(), "ema": ema_model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "torch_rng": gen.get_state(), "ema_steps": ema.steps, "numpy_rng": json.dumps(rng.bit_generator.state),
            }, state_path)
            if progress:
                bar.console.print(
                    f"epoch {epoch + 1:>3}/{epochs}  loss {record['train_loss']:.4f}  "
                    f"acc {record['train_acc']:.3f}  val {val_loss:.4f}  "
                    f"{record['clips_per_s']:.1f} clips/s" + ("  *" if selected else ""))
    return {"best_epoch": best_epoch, "best_val_loss": best, "epochs": epochs,
            "speed": list(getattr(model, "asdbench_speed", []))}


# --- evaluation --------------------------------------------------------------------------


@torch.no_grad()
def embed_split(model: ASDModel, split: Split, device, amp, batch_size: int = 64) -> ScoringInputs:
    model.eval()
    embs, logits = [], []
    labels = split.labels.clamp(min=0)  # unknown classes are scored against class 0, then dropped
    for start in range(0, len(split), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(split)))
        wave, feats, _ = split.batch(idx, device)
        with _autocast(device, amp):
            e, lg = model.infer(wave, feats, labels[idx.to(labels.device)].to(device))
        embs.append(e.float().cpu())
        logits.append(lg.float().cpu())
    return ScoringInputs(
        embeddings=torch.cat(embs).numpy() if embs else np.zeros((0, 0), np.float32),
        logits=torch.cat(logits).numpy() if logits else np.zeros((0, 0), np.float32),
        class_index=split.labels.cpu().numpy(),
        domain=np.array([c.domain for c in split.clips], dtype=object),
    )


def score_clips(cfg, registry: Registry, train_inputs: ScoringInputs,
                test_inputs: ScoringInputs) -> np.ndarray:
    scorer = registry.create("scorer", cfg["scorer"], component_options(cfg, "scorer"))
    scorer.fit(train_inputs)
    return np.asarray(scorer.score(test_inputs), dtype=np.float64)


def scores_frame(clips: list[Clip], scores: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "file": [c.file_name for c in clips],
        "machine_type": [c.machine_type for c in clips],
        "machine_id": [c.machine_id for c in clips],
        "domain": [c.domain for c in clips],
        "label": [c.label for c in clips],
        "score": scores,
    })


# --- the whole run -----------------------------------------------------------------------


def run_dir_for(cfg: dict[str, Any], results_dir: str | Path) -> Path:
    return Path(results_dir) / "runs" / run_id(cfg)


def train_and_evaluate(cfg: dict[str, Any], results_dir: str | Path, *, resume: bool = False,
                       progress: bool = True, registry: Registry | None = None) -> Path:
    """Train and evaluate one run from a resolved config; returns its run folder.

    A finished run (``metrics.json`` present) is returned as is. An unfinished one needs
    ``resume=True`` (continue from the last epoch) or is started afresh when it has no state.
    """
    registry = registry or get_registry()
    run_dir = run_dir_for(cfg, results_dir)
    if (run_dir / "metrics.json").exists():
        return run_dir
    if (run_dir / STATE_FILE).exists() and not resume:
        raise AsdbenchError(f"{run_dir} holds an unfinished run: pass --resume to continue it "
                            "(or delete the folder to start again)")
    t_start = time.perf_counter()
    device = select_device(str(cfg["train.device"]))
    torch.manual_seed(int(cfg["seed"]))
    dataset, audio, train_w, test_w, classes = prepare_data(cfg, registry, device, progress)
    model = build_model(cfg, registry, audio, len(classes)).to(device)
    class_index = {k: i for i, k in enumerate(classes)}

    fe = model.frontend
    feats_fn = _feature_fn(fe, device)
    train_f = load_features(train_w, feats_fn, fe.feature_key, progress=progress)
    test_f = load_features(test_w, feats_fn, fe.feature_key, progress=progress)
    nbytes = sum(a.nbytes for a in (train_w.waves, train_f, test_w.waves, test_f))
    data_device = device if _fits_on(device, nbytes) else torch.device("cpu")
    full = _to_split(train_w.clips, train_w.waves, train_f, class_index, data_device)
    test = _to_split(test_w.clips, test_w.waves, test_f, class_index, data_device)
    tr_idx, va_idx = _split_train_val(len(full), float(cfg["train.val_fraction"]), int(cfg["seed"]))
    train_split, val_split = full.subset(tr_idx), full.subset(va_idx)

    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"run_id": run_id(cfg), "config": cfg, "classes": classes,
            "audio": {"sample_rate": audio.sample_rate, "clip_seconds": audio.clip_seconds},
            "data_root": os.path.commonpath([str(c.path) for c in train_w.clips]),
            "protocols": list(dataset.protocols), "provenance": provenance(device),
            "data": {"train": len(train_split), "val": len(val_split), "test": len(test),
                     "problems": [list(p) for p in (dataset.report.problems
                                                    + train_w.report.problems
                                                    + test_w.report.problems)]}}
    atomic_write_text(run_dir / "config.json", json.dumps(info, indent=2, default=str))

    summary = train(cfg, model, train_split, val_split, run_dir, device, resume=resume,
                    progress=progress)

    if "compile" in summary["speed"]:
        # evaluation shapes differ from training ones: score with an eager model
        model = build_model(cfg, registry, audio, len(classes)).to(device)
    model.load_state_dict(load_file(str(run_dir / MODEL_FILE), device=str(device)))
    amp = cfg["train.amp"]
    train_inputs = embed_split(model, full, device, amp)
    _atomic_safetensors({"embeddings": torch.from_numpy(train_inputs.embeddings),
                         "class_index": torch.from_numpy(train_inputs.class_index),
                         "is_target": torch.tensor([d == "target" for d in train_inputs.domain])},
                        run_dir / EMBEDDINGS_FILE)
    test_inputs = embed_split(model, test, device, amp)
    scores = score_clips(cfg, registry, train_inputs, test_inputs)
    frame = scores_frame(test.clips, scores)
    atomic_write_text(run_dir / "scores.csv", frame.to_csv(index=False))
    write_submission(frame, run_dir / "submission", layout=dataset.protocols[0])
    metrics = {"run_id": run_id(cfg), "config": cfg,
               "official_protocol": dataset.protocols[0],
               "protocols": compute_all(frame, list(dataset.protocols)),
               **summary, "wall_time_s": time.perf_counter() - t_start}
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=_json_default))
    return run_dir


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return str(obj)


def _feature_fn(frontend, device: torch.device):
    """Batched, no-grad feature computation on the run's device."""

    @torch.no_grad()
    def fn(wave: torch.Tensor) -> torch.Tensor:
        return frontend.features(wave.to(device)).float().cpu()

    return fn
