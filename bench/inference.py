"""Inference speed of the scoring model: ms per 10-s clip at batch 1, clips/s at batch 64.

The model is the deployment one (``asdbench.export.ScoringModel``: waveform → log-Mel →
frontend → MobileFaceNet → head → per-class scores), at the paper's size (41 classes),
randomly initialised (speed does not depend on the weights). Variants, all computing the same
function (outputs checked against eager to 1e-3):

- ``eager``: PyTorch eager under ``torch.no_grad`` (what research code does);
- ``eager+speed``: ``torch.inference_mode`` + ``asdbench.speed.prepare_for_speed``
  (channels-last);
- ``torchscript``: the file ``asdbench export`` writes, loaded with ``torch.jit.load``;
- ``torchscript+opt``: that file frozen and oneDNN-optimised where it runs
  (``asdbench.speed.optimize_for_inference``: ``torch.jit.freeze`` +
  ``torch.jit.optimize_for_inference``, BN folded into the convs).

Each is measured with 1 torch thread and with all of them (batch 1), and with all threads at
batch 64 (and 8 on a CPU). Repeats of the variants alternate, so a load change hits all alike.
Usage: ``python -m bench.inference [--quick]``.

``--cost MATRIX`` measures instead what the leaderboard's cost columns show (:mod:`asdbench.
cost`): every architecture of a matrix file's cells (model and scorer, randomly initialised,
the scorer fitted on random embeddings), exported to ONNX as ``asdbench export`` writes it,
fp32 and int8 (:mod:`asdbench.quantize`, calibrated on noise), in ONNX Runtime on the CPU:
batch 1, 2 threads, 10-s clips, median of alternating repeats. Its record,
``inference-cost.json``, is what ``asdbench leaderboard`` reads from ``RESULTS/bench``.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from asdbench.config import component_options
from asdbench.export import ScoringModel, save_torchscript
from asdbench.model import build_model
from asdbench.modelinfo import PAPER_NUM_CLASSES, audio_spec
from asdbench.plugins import get_registry
from asdbench.speed import optimize_for_inference, prepare_for_speed
from bench.common import (
    console,
    finish_peak,
    forward_flops,
    parser,
    print_context,
    print_table,
    setup,
    start_record,
    timed,
    write_record,
)

NAME = "inference"
TARGET_MS = 30.0  # the goal for tfstgram at batch 1 on a 2-core CPU (issue 7)


def build_variants(frontend: str, clip_seconds: float, device: torch.device, workdir: Path):
    """``{name: (callable, context factory)}`` and the forward FLOPs of one clip."""
    from asdbench.config import resolve  # noqa: PLC0415

    registry = get_registry()
    cfg = resolve({"frontend": frontend, "method": "os-scl", "data.clip_seconds": clip_seconds},
                  registry)
    audio = audio_spec(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, registry, audio, PAPER_NUM_CLASSES)
    ce = registry.create("scorer", "ce").to_torch(model.method, PAPER_NUM_CLASSES)
    scoring = ScoringModel(model, ce).eval().to(device)
    example = 0.1 * torch.randn(2, audio.num_samples, device=device)
    fast = copy.deepcopy(scoring)
    prepare_for_speed(fast, device)
    path = workdir / f"{frontend}.pt"
    save_torchscript(copy.deepcopy(scoring).cpu(), example.cpu(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is marked deprecated
        loaded = torch.jit.load(str(path), map_location=device)
        optimised = optimize_for_inference(torch.jit.load(str(path), map_location=device))
    variants = {
        "eager": (scoring, torch.no_grad),
        "eager+speed": (fast, torch.inference_mode),
        "torchscript": (loaded, torch.no_grad),
        "torchscript+opt": (optimised, torch.no_grad),
    }
    return variants, forward_flops(cfg, PAPER_NUM_CLASSES), audio.num_samples


def measure(variants, x: torch.Tensor, device, warmup: int, repeats: int,
            failures: dict[str, str]) -> dict[str, list]:
    """Alternating repeats of every variant on ``x``; seconds per call.

    A variant that raises or disagrees with the first one (eager) is dropped from ``variants``
    and reported in ``failures``, so one broken path does not take the others down. Outputs
    are compared relative to their size: 1e-3 on a CPU, 1e-2 on CUDA (TF32 convolutions).
    """
    reference = None
    tolerance = 1e-2 if device.type == "cuda" else 1e-3
    for name, (fn, ctx) in list(variants.items()):
        try:
            with ctx():
                for _ in range(warmup):
                    y = fn(x).float()
        except Exception as exc:  # noqa: BLE001  # reported, the others go on
            failures[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1]}"
            del variants[name]
            continue
        if reference is None:
            reference = y
        err = float((y - reference).abs().max())
        if not err <= tolerance * max(1.0, float(reference.abs().max())):
            failures[name] = f"differs from eager by {err:.3g}"
            del variants[name]
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (fn, ctx) in variants.items():
            with ctx():
                times[name].append(timed(lambda fn=fn: fn(x), device))
    return times


def cost_architectures(matrix: Path, clip_seconds: float) -> list[dict]:
    """The distinct architectures (:func:`asdbench.cost.architecture_key`) of a matrix's cells,
    in cell order, as resolved configs at ``clip_seconds``."""
    from asdbench.config import resolve  # noqa: PLC0415
    from asdbench.cost import architecture_key  # noqa: PLC0415
    from asdbench.matrix.grid import expand, load_matrix, matrix_name  # noqa: PLC0415

    registry = get_registry()
    config = load_matrix(matrix)
    seen, out = set(), []
    for overrides in expand(config, source=matrix_name(config)):
        cfg = resolve({**overrides, "data.clip_seconds": clip_seconds}, registry)
        key = architecture_key(cfg)
        if key not in seen:
            seen.add(key)
            out.append(cfg)
    return out


def _class_names(cfg) -> list[str] | None:
    from asdbench.commands.describe import dataset_classes  # noqa: PLC0415

    types, ids = cfg.get("data.types"), cfg.get("data.ids_per_type")
    if dataset_classes(cfg) is None:
        return None
    return [f"{t.strip()}/{i:02d}" for t in types.split(",") if t.strip() for i in range(ids)]


def export_architecture(cfg, workdir: Path, failures: dict[str, str]) -> dict[str, Path]:
    """The fp32 and int8 ONNX files of ``cfg``'s scoring model (random weights; the scorer
    fitted on random embeddings); a precision that cannot be exported goes to ``failures``."""
    from asdbench.cost import architecture_key  # noqa: PLC0415
    from asdbench.export import _save_onnx, scorer_module  # noqa: PLC0415
    from asdbench.quantize import quantize_onnx  # noqa: PLC0415
    from asdbench.scoring import ScoringInputs  # noqa: PLC0415

    registry = get_registry()
    audio = audio_spec(cfg)
    names = _class_names(cfg)
    classes = len(names) if names else PAPER_NUM_CLASSES
    torch.manual_seed(0)
    model = build_model(cfg, registry, audio, classes, class_names=names).eval()
    rng = np.random.default_rng(0)
    per_class = 32
    scorer = registry.create("scorer", cfg["scorer"], component_options(cfg, "scorer"))
    n = classes * per_class
    emb_dim = _embedding_width(model, audio)
    scorer.fit(ScoringInputs(embeddings=rng.standard_normal((n, emb_dim)).astype(np.float32),
                             logits=rng.standard_normal((n, classes)).astype(np.float32),
                             class_index=np.repeat(np.arange(classes), per_class),
                             domain=np.array([""] * n, dtype=object)))
    scoring = ScoringModel(model, scorer_module(scorer, cfg["scorer"], model.method, classes))
    key = architecture_key(cfg)
    files = {"fp32": workdir / f"{key}.onnx"}
    example = 0.1 * torch.randn(2, audio.num_samples)
    try:
        _save_onnx(scoring.eval(), example, files["fp32"])
    except Exception as exc:  # noqa: BLE001 - reported, the others go on
        failures["fp32"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}"
        return {}
    g = torch.Generator().manual_seed(2)
    noise = [(0.1 * torch.randn(4, audio.num_samples, generator=g)).numpy() for _ in range(2)]
    try:
        files["int8"] = workdir / f"{key}-int8.onnx"
        quantize_onnx(files["fp32"], files["int8"], noise)
    except Exception as exc:  # noqa: BLE001
        failures["int8"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}"
        del files["int8"]
    return files


def _embedding_width(model, audio) -> int:
    """The width of the method's embedding (what the scorer is fitted on)."""
    with torch.no_grad():
        wave = 0.1 * torch.randn(1, audio.num_samples)
        feats = model.frontend.features(wave)
        return int(model.method.embed(model.backbone(model.frontend(wave, feats))).shape[1])


def cost_main(args) -> None:
    """``--cost MATRIX``: fp32 and int8 latency of every architecture of the matrix."""
    import onnxruntime as ort  # noqa: PLC0415 - optional extra

    from asdbench.cost import COST_RECORD, architecture_key, architecture_label  # noqa: PLC0415

    threads, clip = 2, (1.0 if args.quick else 10.0)
    repeats = args.repeats or (3 if args.quick else 20)
    archs = cost_architectures(args.cost, clip)
    settings = {"matrix": str(args.cost), "clip_seconds": clip, "batch": 1, "threads": threads,
                "repeats": repeats, "runtime": f"onnxruntime {ort.__version__}"}
    record = start_record(COST_RECORD, args, torch.device("cpu"), settings)
    print_context(record)
    rows, failures = [], {}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory(prefix="asdbench-bench-") as tmp:
        for cfg in archs:
            key, label = architecture_key(cfg), architecture_label(cfg, get_registry())
            failed: dict[str, str] = {}
            files = export_architecture(cfg, Path(tmp), failed)
            if failed:
                failures[label] = failed
            sessions = {p: ort.InferenceSession(str(f), options,
                                                providers=["CPUExecutionProvider"])
                        for p, f in files.items()}
            x = (0.1 * np.random.default_rng(1).standard_normal(
                (1, audio_spec(cfg).num_samples))).astype(np.float32)
            for s in sessions.values():
                for _ in range(3):
                    s.run(None, {"wave": x})
            times: dict[str, list[float]] = {p: [] for p in sessions}
            for _ in range(repeats):
                for p, s in sessions.items():
                    t = time.perf_counter()
                    s.run(None, {"wave": x})
                    times[p].append(time.perf_counter() - t)
            flops = forward_flops(cfg, len(_class_names(cfg) or []) or PAPER_NUM_CLASSES)
            for p, ts in times.items():
                ms = 1e3 * np.asarray(ts)
                rows.append({"architecture_key": key, "architecture": label, "precision": p,
                             "format": "onnx", "batch": 1, "threads": threads,
                             "ms_per_clip": float(np.median(ms)), "ms_per_clip_min": float(ms.min()),
                             "ms_per_clip_p90": float(np.percentile(ms, 90)),
                             "forward_gflop_per_clip": flops / 1e9,
                             "file_mb": files[p].stat().st_size / 2**20})
            console.print(f"  {label}: " + ", ".join(
                f"{p} {1e3 * float(np.median(ts)):.1f} ms" for p, ts in times.items()))
    for row in rows:
        fp32 = next((r for r in rows if r["architecture_key"] == row["architecture_key"]
                     and r["precision"] == "fp32"), None)
        row["speedup_vs_fp32"] = fp32["ms_per_clip"] / row["ms_per_clip"] if fp32 else None
    record["results"] = rows
    if failures:
        record["failures"] = failures
    record["notes"].append("ms_per_clip: median over repeats of one 10-s clip (batch 1) through "
                           "the exported ONNX model in ONNX Runtime, 2 intra-op threads; fp32 "
                           "and int8 alternate; random weights (speed does not depend on them)")
    path = write_record(record, args.out)
    print_table(f"exported model latency, {clip:g} s clips, batch 1, {threads} threads", rows, [
        ("architecture", "architecture", ""), ("precision", "precision", ""),
        ("ms_per_clip", "ms/clip", ".1f"), ("ms_per_clip_min", "min", ".1f"),
        ("speedup_vs_fp32", "× fp32", ".2f"), ("file_mb", "MB", ".2f")])
    console.print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cost", type=Path, metavar="MATRIX",
                   help="measure the exported fp32 and int8 latency of every architecture of "
                        "this matrix file instead (record inference-cost.json)")
    p.add_argument("--frontends", default="tfstgram,logmel")
    p.add_argument("--batches", default=None,
                   help="throughput batches, comma list (default 64, and 8 on a CPU, where "
                        "small batches keep activations in cache)")
    p.add_argument("--repeats", type=int, default=None, help="batch-1 repeats (default 30)")
    args = p.parse_args(argv)
    device = setup(args)
    if args.cost is not None:
        cost_main(args)
        return
    clip_seconds = 1.0 if args.quick else 10.0
    if args.batches:
        bigs = [int(b) for b in args.batches.split(",")]
    else:
        bigs = [4] if args.quick else ([8, 64] if device.type == "cpu" else [64])
    repeats = args.repeats or (3 if args.quick else 30)
    big_repeats = 2 if args.quick else 3
    all_threads = torch.get_num_threads()
    thread_counts = sorted({1, all_threads}) if device.type == "cpu" else [all_threads]
    settings = {"clip_seconds": clip_seconds, "batch_throughput": bigs, "repeats_batch1": repeats,
                "repeats_batch": big_repeats, "threads": thread_counts,
                "classes": PAPER_NUM_CLASSES, "target_ms_tfstgram_batch1": TARGET_MS}
    record = start_record(NAME, args, device, settings)
    print_context(record)
    rows = []
    failures: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="asdbench-bench-") as tmp:
        for frontend in args.frontends.split(","):
            variants, flops, samples = build_variants(frontend, clip_seconds, device, Path(tmp))
            g = torch.Generator().manual_seed(1)
            for threads in thread_counts:
                torch.set_num_threads(threads)
                x1 = (0.1 * torch.randn(1, samples, generator=g)).to(device)
                for name, ts in measure(variants, x1, device, 3, repeats, failures.setdefault(frontend, {})).items():
                    ms = 1e3 * np.asarray(ts)
                    rows.append({"frontend": frontend, "variant": name, "batch": 1,
                                 "threads": threads, "ms_per_clip": float(np.median(ms)),
                                 "ms_per_clip_min": float(ms.min()),
                                 "ms_per_clip_p90": float(np.percentile(ms, 90)),
                                 "clips_per_s": 1e3 / float(np.median(ms)),
                                 "forward_gflop_per_clip": flops / 1e9})
            torch.set_num_threads(all_threads)
            for big in bigs:
                xb = (0.1 * torch.randn(big, samples, generator=g)).to(device)
                for name, ts in measure(variants, xb, device, 1, big_repeats, failures.setdefault(frontend, {})).items():
                    ms = 1e3 * float(np.median(ts)) / big
                    rows.append({"frontend": frontend, "variant": name, "batch": big,
                                 "threads": all_threads, "ms_per_clip": ms,
                                 "ms_per_clip_min": 1e3 * float(np.min(ts)) / big,
                                 "clips_per_s": 1e3 / ms, "forward_gflop_per_clip": flops / 1e9})
            console.print(f"  {frontend} done")
    peak = finish_peak(record) * 1e9
    for row in rows:
        row["bound_ms_per_clip"] = 1e3 * row["forward_gflop_per_clip"] * 1e9 / peak
        row["fraction_of_peak"] = row["bound_ms_per_clip"] / row["ms_per_clip"]
        base = next((r for r in rows if r["frontend"] == row["frontend"]
                     and r["variant"] == "eager" and r["batch"] == row["batch"]
                     and r["threads"] == row["threads"]), None)
        row["speedup_vs_eager"] = base["ms_per_clip"] / row["ms_per_clip"] if base else None
    record["results"] = rows
    failures = {fe: f for fe, f in failures.items() if f}
    if failures:
        record["failures"] = failures
        for fe, dropped in failures.items():
            for name, why in dropped.items():
                console.print(f"[red]{fe} variant {name} dropped[/]: {why}")
    best = min((r for r in rows if r["frontend"] == "tfstgram" and r["batch"] == 1),
               key=lambda r: r["ms_per_clip"], default=None)
    if best is not None and not args.quick:
        record["target"] = {"ms": TARGET_MS, "best_variant": best["variant"],
                            "best_threads": best["threads"], "best_ms": best["ms_per_clip"],
                            "met": best["ms_per_clip"] <= TARGET_MS}
    record["notes"].append("ms_per_clip: median (min: best repeat); bound_ms_per_clip = forward FLOPs / peak fp32 "
                           "matmul FLOP/s; fraction_of_peak = bound / measured")
    path = write_record(record, args.out)
    print_table(f"inference, {clip_seconds:g} s clips ({device})", rows, [
        ("frontend", "frontend", ""), ("variant", "variant", ""), ("batch", "batch", "d"),
        ("threads", "threads", "d"), ("ms_per_clip", "ms/clip", ".1f"),
        ("ms_per_clip_min", "min", ".1f"),
        ("clips_per_s", "clips/s", ".1f"), ("speedup_vs_eager", "× eager", ".2f"),
        ("bound_ms_per_clip", "bound ms", ".1f"), ("fraction_of_peak", "of peak", ".0%")])
    if "target" in record:
        t = record["target"]
        console.print(f"tfstgram batch 1: best {t['best_ms']:.1f} ms/clip ({t['best_variant']}, "
                      f"{t['best_threads']} threads); target {TARGET_MS:g} ms "
                      + ("met" if t["met"] else "NOT met"))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
