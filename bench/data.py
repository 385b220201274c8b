"""Data path: cache build throughput, and a cached training set against decoding the WAVs.

- **build**: ``asdbench.cache.load_waveforms`` (decode every WAV once, int16 cache) and
  ``load_features`` (log-Mel once, float32 cache) into an empty cache folder: clips/s.
- **cached load**: the same calls again (cache hit: key, memory map) and every row read into
  memory, as a training epoch touches it.
- **decode**: every WAV read with soundfile (what a loader without cache does each epoch), and
  the same plus the per-clip log-Mel (the naive pipeline of ``bench.train_throughput``).

All reads come from the operating system's page cache (the files were just written): the
figures are memory and CPU speeds, not disk speeds. Usage: ``python -m bench.data [--quick]``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asdbench.cache import load_features, load_waveforms
from asdbench.config import component_options
from asdbench.data import TRAIN
from asdbench.model import build_model
from asdbench.plugins import get_registry
from asdbench.run.tensors import feature_fn
from bench.common import (
    console,
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

NAME = "data"
LOGMEL_BATCHES = (1, 8, 64)  # the cache builds features in batches of 64


def memcpy_gbps(nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Best GB/s of a large array copy (read + write counted once): the memory-bound limit."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return nbytes / best / 1e9


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=None, help="train clips (default 128, quick 8)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3)")
    args = p.parse_args(argv)
    device = setup(args)
    n_clips = args.clips or (8 if args.quick else 128)
    repeats = args.repeats or (1 if args.quick else 3)
    clip_seconds = 1.0 if args.quick else 10.0
    work = work_dir(args)
    settings = {"clips": n_clips, "clip_seconds": clip_seconds, "repeats": repeats,
                "frontend": "logmel", "page_cache": "warm (files just written)"}
    record = start_record(NAME, args, device, settings)
    print_context(record)

    registry = get_registry()
    cfg = synthetic_config(work, clip_seconds, max(1, n_clips // 2), frontend="logmel")
    dataset = registry.create("dataset", cfg["dataset"], component_options(cfg, "dataset"))
    audio = dataset.audio
    clips = [c for c in dataset.clips() if c.split == TRAIN]
    n = len(clips)
    model = build_model(cfg, registry, audio, 2)
    fe = model.frontend
    feat_fn = feature_fn(fe, device)
    wav_bytes = sum(Path(c.path).stat().st_size for c in clips)

    def measure_once(cache: Path) -> dict[str, float]:
        shutil.rmtree(cache, ignore_errors=True)
        box: dict = {}
        out = {"build_waves": timed(lambda: box.update(w=load_waveforms(
            clips, audio, cache, progress=False)), device)}
        out["build_feats"] = timed(lambda: box.update(f=load_features(
            box["w"], feat_fn, fe.feature_key, cache, progress=False)), device)

        def cached_load():
            w = load_waveforms(clips, audio, cache, progress=False)
            f = load_features(w, feat_fn, fe.feature_key, cache, progress=False)
            # what an epoch touches: every row of both arrays, in memory
            box["arrays"] = (np.array(w.waves), np.array(f))

        def decode():
            box["decoded"] = [sf.read(str(c.path), dtype="float32")[0] for c in clips]

        def decode_and_logmel():
            for c in clips:
                feat_fn(torch.from_numpy(sf.read(str(c.path), dtype="float32")[0])[None])

        float_waves = torch.from_numpy(np.asarray(box["w"].waves, dtype=np.float32) / 32768.0)
        for b in LOGMEL_BATCHES:
            def logmel_batches(b=b):
                for start in range(0, n, b):
                    feat_fn(float_waves[start:start + b])
            out[f"logmel_b{b}"] = timed(logmel_batches, device)
        out["cached_load"] = timed(cached_load, device)
        out["decode"] = timed(decode, device)
        out["decode_logmel"] = timed(decode_and_logmel, device)
        out["cache_bytes"] = sum(a.nbytes for a in box["arrays"])
        shutil.rmtree(cache, ignore_errors=True)
        return out

    runs = [measure_once(work / f"cache-{r}") for r in range(repeats)]
    builds_w, builds_f, hits, decodes, naive = (
        [r[k] for r in runs]
        for k in ("build_waves", "build_feats", "cached_load", "decode", "decode_logmel"))
    cache_bytes = int(runs[0]["cache_bytes"])
    bandwidth = memcpy_gbps(32 * 2**20 if args.quick else 256 * 2**20)
    record["peak"]["memcpy_gbps"] = round(bandwidth, 1)

    def row(step: str, times: list[float], note: str, nbytes: int | None = None) -> dict:
        best = min(times)
        out = {"step": step, "clips": n, "seconds": best, "seconds_all": times,
               "clips_per_s": n / best, "ms_per_clip": 1e3 * best / n, "note": note}
        if nbytes is not None:
            out["bytes"] = nbytes
            out["bound_s"] = nbytes / (bandwidth * 1e9)
        return out

    rows = [
        row("build: decode WAVs -> int16 cache", builds_w,
            f"{_workers_note()} decode threads"),
        row("build: log-Mel -> float32 cache", builds_f, f"batches of 64, {device}"),
        row("cached load: open + read all rows", hits, "int16 waves + float32 log-Mel", cache_bytes),
        row("decode every WAV (soundfile)", decodes, "uncached loader, per epoch", wav_bytes),
        row("decode + per-clip log-Mel", naive, "naive pipeline, per epoch"),
        *(row(f"log-Mel only, batch {b}", [r[f"logmel_b{b}"] for r in runs], "from float waves")
          for b in LOGMEL_BATCHES),
    ]
    hit, dec, nai = rows[2]["seconds"], rows[3]["seconds"], rows[4]["seconds"]
    rows[2]["speedup_vs_decode"] = dec / hit
    rows[2]["speedup_vs_decode_logmel"] = nai / hit
    record["results"] = rows
    record["sizes"] = {"wav_mb": wav_bytes / 2**20, "cache_mb": cache_bytes / 2**20,
                       "clip_seconds": clip_seconds, "clips": n}
    record["notes"].append("seconds = best of the repeats; bound_s = bytes / memcpy bandwidth")
    path = write_record(record, args.out)
    print_table(f"data path, {n} clips of {clip_seconds:g} s ({device})", rows, [
        ("step", "step", ""), ("clips_per_s", "clips/s", ".0f"), ("ms_per_clip", "ms/clip", ".2f"),
        ("seconds", "total s", ".3f"), ("bound_s", "memcpy-bound s", ".3f"), ("note", "", "")])
    console.print(f"cached load is {rows[2]['speedup_vs_decode']:.1f}x faster than decoding and "
                  f"{rows[2]['speedup_vs_decode_logmel']:.0f}x faster than decoding + log-Mel")
    console.print(f"wrote {path}")


def _workers_note() -> str:
    from asdbench.cache import _workers  # noqa: PLC0415

    return str(_workers())


if __name__ == "__main__":
    main()
