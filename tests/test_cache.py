"""The decode-once waveform cache and the feature cache."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import asdbench.audio as audio_io
from asdbench.audio import AudioError
from asdbench.cache import (
    MARKER,
    atomic_dir,
    default_cache_dir,
    is_complete,
    load_features,
    load_waveforms,
    waves_key,
)
from asdbench.data import TRAIN, AudioSpec, Clip
from asdbench.registry import AsdbenchError

SPEC = AudioSpec(sample_rate=8000, clip_seconds=0.5)


def make_clips(folder: Path, n: int = 5, seed: int = 0) -> tuple[list[Clip], np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(-12000, 12000, (n, SPEC.num_samples)).astype(np.int16)
    clips = []
    for i in range(n):
        path = folder / f"normal_id_00_{i:08d}.wav"
        sf.write(str(path), data[i], SPEC.sample_rate, subtype="PCM_16")
        clips.append(Clip(path, "fan", "00", TRAIN))
    return clips, data


class CountingDecoder:
    """Wraps read_clip, counting calls; raises on call number ``fail_at`` (1-based)."""

    def __init__(self, monkeypatch, fail_at: int | None = None) -> None:
        self.calls, self.fail_at, self._real = 0, fail_at, audio_io.read_clip
        monkeypatch.setattr(audio_io, "read_clip", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("simulated crash mid-build")
        return self._real(*args, **kwargs)


def forbid_decoding(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("decoded although the cache should have been used")
    monkeypatch.setattr(audio_io, "read_clip", boom)


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ASDBENCH_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ASDBENCH_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "asdbench"


def test_waveforms_round_trip_exactly_and_are_read_only(tmp_path):
    clips, data = make_clips(tmp_path)
    ws = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    assert isinstance(ws.waves, np.memmap) and ws.waves.dtype == np.int16
    assert ws.waves.shape == (5, SPEC.num_samples)
    np.testing.assert_array_equal(ws.waves, data)
    assert ws.clips == clips and not ws.report
    with pytest.raises(ValueError):
        ws.waves[0, 0] = 1
    torch.testing.assert_close(ws.batch(1, 3), torch.from_numpy(data[1:3] / 32768.0).float())
    assert is_complete(ws.path)


def test_second_load_decodes_nothing(tmp_path, monkeypatch):
    clips, data = make_clips(tmp_path)
    first = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    forbid_decoding(monkeypatch)
    second = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    assert second.key == first.key
    np.testing.assert_array_equal(second.waves, data)


def test_default_cache_dir_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ASDBENCH_CACHE", str(tmp_path / "env-cache"))
    clips, _ = make_clips(tmp_path, 2)
    ws = load_waveforms(clips, SPEC, progress=False)
    assert ws.path.parent == tmp_path / "env-cache" / "waves"


def test_touched_file_or_other_parameters_invalidate(tmp_path, monkeypatch):
    clips, _ = make_clips(tmp_path)
    first = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    st = os.stat(clips[2].path)
    os.utime(clips[2].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    counter = CountingDecoder(monkeypatch)
    second = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    assert second.key != first.key and counter.calls == len(clips)
    assert waves_key(clips, AudioSpec(8000, 0.25)) != second.key
    assert waves_key(clips, AudioSpec(16000, 0.5)) != second.key
    assert waves_key(clips[::-1], SPEC) != second.key
    assert waves_key(clips, SPEC) == second.key


def test_interrupted_build_leaves_nothing_trusted(tmp_path, monkeypatch):
    clips, data = make_clips(tmp_path)
    cache = tmp_path / "cache"
    crash = CountingDecoder(monkeypatch, fail_at=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        load_waveforms(clips, SPEC, cache, progress=False)
    assert list((cache / "waves").iterdir()) == []  # no entry, no temporary left-over
    monkeypatch.setattr(audio_io, "read_clip", crash._real)
    counter = CountingDecoder(monkeypatch)
    ws = load_waveforms(clips, SPEC, cache, progress=False)
    assert counter.calls == len(clips)
    np.testing.assert_array_equal(ws.waves, data)


def test_entry_without_marker_or_with_wrong_size_is_rebuilt(tmp_path, monkeypatch):
    clips, data = make_clips(tmp_path)
    cache = tmp_path / "cache"
    key = waves_key(clips, SPEC)
    # A killed copy: the folder exists at the final path but has no completion marker.
    fake = cache / "waves" / key
    fake.mkdir(parents=True)
    (fake / "waves.i16").write_bytes(b"\0" * data.nbytes)
    (fake / "meta.json").write_text(json.dumps({"version": 1, "kept": [0, 1, 2, 3, 4],
                                                "problems": [], "skipped": []}))
    counter = CountingDecoder(monkeypatch)
    ws = load_waveforms(clips, SPEC, cache, progress=False)
    assert counter.calls == len(clips)
    np.testing.assert_array_equal(ws.waves, data)
    # A complete entry whose data file was truncated afterwards is not trusted either.
    with open(ws.path / "waves.i16", "r+b") as fh:
        fh.truncate(100)
    ws = load_waveforms(clips, SPEC, cache, progress=False)
    assert counter.calls == 2 * len(clips)
    np.testing.assert_array_equal(ws.waves, data)


def test_bad_clips_are_skipped_and_reported_or_fail(tmp_path):
    clips, data = make_clips(tmp_path, 4)
    silent = tmp_path / "normal_id_00_silent.wav"
    sf.write(str(silent), np.zeros(SPEC.num_samples, np.int16), SPEC.sample_rate)
    corrupt = tmp_path / "normal_id_00_corrupt.wav"
    corrupt.write_bytes(b"not a wav at all")
    resampled = tmp_path / "normal_id_00_16k.wav"
    sf.write(str(resampled), np.full(2 * SPEC.num_samples, 0.1, np.float32), 16000)
    mixed = [clips[0], Clip(silent, "fan", "00", TRAIN), clips[1],
             Clip(corrupt, "fan", "00", TRAIN), Clip(resampled, "fan", "00", TRAIN), clips[2]]
    ws = load_waveforms(mixed, SPEC, tmp_path / "cache", progress=False)
    assert ws.clips == [mixed[0], mixed[2], mixed[4], mixed[5]] and ws.kept == [0, 2, 4, 5]
    np.testing.assert_array_equal(ws.waves[[0, 1, 3]], data[:3])
    assert ws.report.counts == {"silent": 1, "unreadable": 1, "resampled": 1}
    assert (str(corrupt), ws.report.problems[1][1]) in ws.report.problems
    assert all("clip skipped" in m for p, m in ws.report.problems if p != str(resampled))
    # "fail": a cached entry with skipped clips is refused, a fresh build stops at the first.
    with pytest.raises(AsdbenchError, match="2 clip"):
        load_waveforms(mixed, SPEC, tmp_path / "cache", on_error="fail", progress=False)
    with pytest.raises(AudioError, match="silent"):
        load_waveforms(mixed, SPEC, tmp_path / "cache2", on_error="fail", progress=False)
    assert not any(is_complete(p) for p in (tmp_path / "cache2" / "waves").iterdir())


def test_nothing_decodable_is_an_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"xx")
    with pytest.raises(AsdbenchError, match="none of the 1 clips"):
        load_waveforms([Clip(bad, "fan", "00", TRAIN)], SPEC, tmp_path / "c", progress=False)
    with pytest.raises(AsdbenchError, match="on_error"):
        load_waveforms([Clip(bad, "fan", "00", TRAIN)], SPEC, tmp_path / "c", on_error="x")


def test_features_are_computed_in_batches_once_and_keyed(tmp_path):
    clips, data = make_clips(tmp_path, 5)
    ws = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    seen = []

    def fn(w: torch.Tensor) -> torch.Tensor:
        seen.append(w.shape[0])
        frames = w.reshape(w.shape[0], 4, -1)  # [B, F=4, T=1000]
        return frames * 100.0

    feats = load_features(ws, fn, "x100-v1", tmp_path / "cache", batch_size=2, progress=False)
    assert isinstance(feats, np.memmap) and feats.dtype == np.float32
    assert feats.shape == (5, 4, SPEC.num_samples // 4) and seen == [2, 2, 1]
    expected = (data.astype(np.float32) / np.float32(32768.0) * np.float32(100.0)).reshape(5, 4, -1)
    np.testing.assert_array_equal(feats, expected)
    again = load_features(ws, fn, "x100-v1", tmp_path / "cache", batch_size=2, progress=False)
    assert seen == [2, 2, 1]  # not recomputed
    np.testing.assert_array_equal(again, expected)
    load_features(ws, fn, "x100-v2", tmp_path / "cache", batch_size=8, progress=False)
    assert seen == [2, 2, 1, 5]  # another feature key is another entry


def test_feature_build_that_fails_leaves_nothing(tmp_path):
    clips, _ = make_clips(tmp_path, 3)
    ws = load_waveforms(clips, SPEC, tmp_path / "cache", progress=False)
    calls = []

    def flaky(w):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return w[:, None, :8]

    with pytest.raises(RuntimeError):
        load_features(ws, flaky, "f", tmp_path / "cache", batch_size=1, progress=False)
    assert list((tmp_path / "cache" / "features").iterdir()) == []
    with pytest.raises(AsdbenchError, match="not finite"):
        load_features(ws, lambda w: w[:, None, :8] / 0.0, "inf", tmp_path / "cache",
                      progress=False)


def test_atomic_dir_publishes_only_complete_folders(tmp_path):
    target = tmp_path / "entry"
    with pytest.raises(KeyError):
        with atomic_dir(target) as tmp:
            (tmp / "part").write_text("half")
            raise KeyError("stop")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target, {"k": 1}) as tmp:
        (tmp / "data").write_text("full")
    assert (target / "data").read_text() == "full"
    assert json.loads((target / MARKER).read_text()) == {"k": 1}
    # A concurrent builder that finishes second keeps the first complete folder.
    with atomic_dir(target) as tmp:
        (tmp / "data").write_text("second")
    assert (target / "data").read_text() == "full"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_concurrent_builders_of_one_entry_both_succeed(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    clips, data = make_clips(tmp_path, 6)
    with ThreadPoolExecutor(4) as pool:
        sets = list(pool.map(lambda _: load_waveforms(clips, SPEC, tmp_path / "cache",
                                                      progress=False), range(4)))
    for ws in sets:
        np.testing.assert_array_equal(ws.waves, data)
    assert [p.name for p in (tmp_path / "cache" / "waves").iterdir()] == [sets[0].key]
