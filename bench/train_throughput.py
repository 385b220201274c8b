"""Training throughput (clips/s): asdbench's engine path against a naive research pipeline.

Both train the same OS-SCL model (same initial weights, same batch, same optimiser, EMA and
mixup) for the same number of steps; the steps of the pipelines alternate (engine, naive,
engine, ...) so a load change on a shared machine hits both alike.

- **engine**: what ``asdbench run`` executes (``asdbench.run.loop.TrainState.create``,
  ``mix_batch``, ``train_step``): cached int16 waveforms and cached float32 log-Mel indexed per
  batch (``Split.batch``), mixup on tensors, channels-last backbone (``train.channels_last``
  auto), bf16 autocast on CUDA (off on CPU), AdamW, ``WeightEMA``.
- **engine-plain**: the same with ``train.channels_last=false``; **engine+bf16**:
  ``train.amp=bf16`` (other rounding, same model and FLOPs: the default on CUDA, an option
  on CPU); **engine+compile**: ``train.compile=true`` (``torch.compile`` of frontend and
  backbone; its compilation is in the warm-up steps, reported as ``first_step_s``).
- **naive**: per-item WAV decode with soundfile and per-item log-Mel (torchaudio) in a torch
  ``Dataset``, ``DataLoader(num_workers=0)``, float32, no compilation.

Each step is split into data time (batch ready on the device, mixed) and compute time
(forward, backward, optimiser, EMA). Usage: ``python -m bench.train_throughput [--quick]``.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch.utils.data import DataLoader, Dataset

from asdbench.cache import load_features, load_waveforms
from asdbench.config import RunConfig, component_options
from asdbench.data import TRAIN
from asdbench.ema import WeightEMA
from asdbench.model import build_model
from asdbench.plugins import get_registry
from asdbench.run.device import amp_enabled
from asdbench.run.loop import TrainState, make_optimizer, mix_batch, train_step
from asdbench.run.tensors import feature_fn, fits_on, to_split
from bench.common import (
    TRAIN_FLOPS_FACTOR,
    console,
    cpu_flags,
    finish_peak,
    forward_flops,
    memory_available_gb,
    parser,
    print_context,
    print_table,
    setup,
    start_record,
    synthetic_config,
    timed,
    work_dir,
    write_record,
)

NAME = "train_throughput"


class NaiveWavDataset(Dataset):
    """What research code typically does: decode the WAV and compute its log-Mel per item."""

    def __init__(self, paths: list[Path], labels: list[int], num_samples: int,
                 cfg: dict[str, Any], sample_rate: int) -> None:
        self.paths, self.labels, self.num_samples = paths, labels, num_samples
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=cfg["frontend.n_fft"],
            win_length=cfg["frontend.win_length"], hop_length=cfg["frontend.hop_length"],
            n_mels=cfg["frontend.n_mels"], power=cfg["frontend.power"],
            pad_mode=cfg["frontend.pad_mode"], norm=cfg["frontend.norm"],
            mel_scale=cfg["frontend.mel_scale"])
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        x, _ = sf.read(str(self.paths[i]), dtype="float32")
        x = x[: self.num_samples]
        if len(x) < self.num_samples:
            x = np.pad(x, (0, self.num_samples - len(x)))
        wave = torch.from_numpy(x)
        with torch.no_grad():
            mel = self.to_db(self.mel(wave))
        return wave, mel, self.labels[i]


def _cycle(loader: DataLoader):
    while True:
        yield from loader


class Trainer:
    """One pipeline: a model, its optimiser and EMA, and a batch source; ``step()`` → times.

    ``cfg`` set: the engine's own setup and step (``TrainState.create``, ``mix_batch``,
    ``train_step``), i.e. what ``asdbench run`` executes with that config. ``cfg=None``: the
    naive pipeline (no speed-ups, float32), with the same optimiser, EMA and mixup maths.
    """

    def __init__(self, name: str, model, cfg: RunConfig | None, base_cfg: RunConfig,
                 device: torch.device, batches, seed: int) -> None:
        self.name, self.model, self.device, self.batches = name, model, device, batches
        if cfg is not None:
            state = TrainState.create(model, cfg, device)
            self.ema, self.opt, self.amp = state.ema, state.opt, cfg.train.amp
        else:
            self.ema = WeightEMA(model, copy.deepcopy(model), float(base_cfg["train.ema_decay"]),
                                 float(base_cfg["train.live_weight_decay"]))
            self.opt = make_optimizer(model, base_cfg.train)
            self.amp = False
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.alpha = model.method.mixup_alpha
        self.data_s: list[float] = []
        self.compute_s: list[float] = []
        self.losses: list[float] = []
        self.warmup_s: list[float] = []

    def _batch(self):
        wave, feats, y = next(self.batches)
        wave, feats, y = (t.to(self.device, non_blocking=True) for t in (wave, feats, y))
        return mix_batch(wave, feats, y, self.alpha, self.rng, self.gen)

    def step(self, record: bool) -> None:
        box: dict[str, Any] = {}

        def data():
            box["batch"] = self._batch()

        def compute():
            box["loss"], _ = train_step(self.model, self.opt, self.ema, *box["batch"],
                                        self.device, self.amp)

        d = timed(data, self.device)
        c = timed(compute, self.device)
        if not record:
            self.warmup_s.append(d + c)
        else:
            self.data_s.append(d)
            self.compute_s.append(c)
            self.losses.append(float(box["loss"]))


def _engine_batches(split, batch_size: int, device, seed: int):
    """``Split.batch`` over random permutations, as the engine's epoch loop indexes it."""
    gen = torch.Generator().manual_seed(seed)
    n = len(split)
    while True:
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - batch_size + 1, batch_size):
            yield split.batch(perm[start:start + batch_size], device)


def measure_frontend(frontend: str, args, device: torch.device, work: Path) -> list[dict]:
    registry = get_registry()
    bs = args.batch_size
    cfg = synthetic_config(work, args.clip_seconds, math.ceil(bs / 2), frontend=frontend,
                           **{"train.batch_size": bs, "train.device": str(device)})
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    audio = dataset.audio
    clips = [c for c in dataset.clips() if c.split == TRAIN]
    classes = sorted({c.class_key for c in clips})
    index = {k: i for i, k in enumerate(classes)}
    torch.manual_seed(int(cfg["seed"]))
    model = build_model(cfg, registry, audio, len(classes)).to(device)
    cache = work / "cache"

    # engine data path: decode once (int16 cache), log-Mel once (float32 cache), index per batch
    waves = load_waveforms(clips, audio, cache, progress=False)
    fe = model.frontend
    feats = load_features(waves, feature_fn(fe, device), fe.feature_key, cache, progress=False)
    nbytes = waves.waves.nbytes + feats.nbytes
    data_device = device if fits_on(device, nbytes) else torch.device("cpu")
    split = to_split(waves.clips, waves.waves, feats, index, data_device)
    seed = int(cfg["seed"])

    naive_ds = NaiveWavDataset([Path(c.path) for c in clips], [index[c.class_key] for c in clips],
                               audio.num_samples, cfg, audio.sample_rate)
    loader = DataLoader(naive_ds, batch_size=bs, shuffle=True, num_workers=0, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    def engine(name: str, **overrides: Any) -> Trainer:
        return Trainer(name, copy.deepcopy(model), cfg.replace(overrides), cfg, device,
                       _engine_batches(split, bs, device, seed), seed)

    # "engine" is `asdbench run` as configured by default (channels-last on, bf16 on CUDA);
    # the others switch one execution setting each
    trainers = [engine("engine-plain", **{"train.channels_last": False}), engine("engine")]
    if args.bf16:
        trainers.append(engine("engine+bf16", **{"train.amp": "bf16"}))
    if args.compile:
        trainers.append(engine("engine+compile", **{"train.compile": True}))
        if args.bf16:
            trainers.append(engine("engine+compile+bf16",
                                   **{"train.compile": True, "train.amp": "bf16"}))
    trainers.append(Trainer("naive", copy.deepcopy(model), None, cfg, device, _cycle(loader),
                            seed))
    for i in range(args.warmup + args.steps):
        for t in trainers:
            t.step(record=i >= args.warmup)
        console.print(f"  {frontend} step {i + 1}/{args.warmup + args.steps}"
                      + (" (warm-up)" if i < args.warmup else ""))

    fwd = forward_flops(cfg, len(classes))
    rows = []
    naive_cps = None
    for t in trainers:
        total = sum(t.data_s) + sum(t.compute_s)
        cps = bs * args.steps / total
        if t.name == "naive":
            naive_cps = cps
        rows.append({
            "frontend": frontend, "pipeline": t.name, "batch_size": bs, "steps": args.steps,
            "clip_seconds": audio.clip_seconds, "clips_per_s": cps,
            "step_s": total / args.steps, "data_ms_per_step": 1e3 * sum(t.data_s) / args.steps,
            "compute_ms_per_step": 1e3 * sum(t.compute_s) / args.steps,
            "data_fraction": sum(t.data_s) / total, "loss_last": t.losses[-1],
            "forward_gflop_per_clip": fwd / 1e9, "first_step_s": t.warmup_s[0] if t.warmup_s else None,
            "speed_hook": list(getattr(t.model, "asdbench_speed", []) or []),
            "_bf16": amp_enabled(device, t.amp),
        })
    for row in rows:
        row["ratio_vs_naive"] = row["clips_per_s"] / naive_cps
    return rows


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=None, help="default 64 (quick: 4)")
    p.add_argument("--steps", type=int, default=None, help="measured steps (default 3, quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured steps first (default 1)")
    p.add_argument("--frontends", default="tfstgram,logmel")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="also measure the engine with train.amp=bf16 (auto: on a CPU with "
                        "native bf16 dot products; CUDA runs already use bf16)")
    p.add_argument("--compile", action="store_true",
                   help="also measure the engine with train.compile=true (slow to compile)")
    args = p.parse_args(argv)
    device = setup(args)
    native_bf16 = bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))
    args.bf16 = args.bf16 == "on" or (args.bf16 == "auto" and device.type == "cpu"
                                      and native_bf16 and not args.quick)
    args.batch_size = args.batch_size or (4 if args.quick else 64)
    args.steps = args.steps or (2 if args.quick else 3)
    args.clip_seconds = 1.0 if args.quick else 10.0
    work = work_dir(args)
    settings = {"batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
                "clip_seconds": args.clip_seconds, "frontends": args.frontends.split(","),
                "method": "os-scl", "compile": args.compile, "bf16_variant": args.bf16,
                "memory_available_gb_before": memory_available_gb()}
    record = start_record(NAME, args, device, settings)
    print_context(record)
    for frontend in args.frontends.split(","):
        record["results"].extend(measure_frontend(frontend, args, device, work))
    finish_peak(record)
    for row in record["results"]:
        # a pipeline under bf16 autocast (train.amp=bf16, or auto on CUDA) is bounded by the
        # bf16 matmul rate, the others by the fp32 one
        row["peak_dtype"] = "bf16" if row.pop("_bf16") else "fp32"
        peak = record["peak"][f"{row['peak_dtype']}_matmul_gflops"]
        row["bound_clips_per_s"] = peak / (TRAIN_FLOPS_FACTOR * row["forward_gflop_per_clip"])
        row["fraction_of_peak"] = row["clips_per_s"] / row["bound_clips_per_s"]
    record["notes"].append(
        "bound_clips_per_s = peak matmul FLOP/s (bf16 under bf16 autocast, else fp32) / "
        "(3 x forward FLOPs per clip); "
        "fraction_of_peak = clips_per_s / bound_clips_per_s")
    path = write_record(record, args.out)
    print_table(f"training throughput, batch {args.batch_size}, {args.clip_seconds:g} s clips "
                f"({device})", record["results"], [
                    ("frontend", "frontend", ""), ("pipeline", "pipeline", ""),
                    ("clips_per_s", "clips/s", ".2f"), ("ratio_vs_naive", "× naive", ".3f"),
                    ("data_ms_per_step", "data ms/step", ".1f"),
                    ("compute_ms_per_step", "compute ms/step", ".0f"),
                    ("bound_clips_per_s", "peak-bound clips/s", ".1f"),
                    ("fraction_of_peak", "of peak", ".1%")])
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
