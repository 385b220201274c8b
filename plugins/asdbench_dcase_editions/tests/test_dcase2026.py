"""DCASE 2026 Task 2: a generated two-channel tree in the official names is read, each
``data.channel`` gives the expected input, submissions carry the official file names, and
``data fetch`` gets the organisers' archives (no evaluation test archive is published)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from asdbench_dcase_editions.archives import archives
from asdbench_dcase_editions.editions import EDITIONS
from asdbench_dcase_editions.protocols import PROTOCOLS

from asdbench.audio import read_clip
from asdbench.metrics.submission import write_submission
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError

RATE, SECONDS = 16000, 1.0
NEAR_HZ, FAR_HZ = 440.0, 1000.0  # left and right channel


def _wav(path, near_gain=0.5, far_gain=0.2):
    t = np.arange(int(RATE * SECONDS)) / RATE
    stereo = np.stack([near_gain * np.sin(2 * np.pi * NEAR_HZ * t),
                       far_gain * np.sin(2 * np.pi * FAR_HZ * t)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, stereo.astype(np.float32), RATE, subtype="FLOAT")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """dev_data/{fan,ToyCar} and eval_data/ToyDrone as the 2026 archives unzip, names as the
    organisers' README shows them (section_00_<domain>_<split>_<label>_<NNNN>_.wav)."""
    root = tmp_path_factory.mktemp("dcase2026t2")
    for t in ("fan", "ToyCar"):
        for dom, n in (("source", 4), ("target", 2)):
            for k in range(n):
                _wav(root / "dev_data" / t / "train" / f"section_00_{dom}_train_normal_{k:04d}_.wav")
            for label in ("normal", "anomaly"):
                for k in range(2):
                    _wav(root / "dev_data" / t / "test"
                         / f"section_00_{dom}_test_{label}_{k:04d}_.wav")
    for k in range(3):
        _wav(root / "eval_data" / "ToyDrone" / "train" / f"section_00_source_train_normal_{k:04d}_.wav")
    return root


def _dataset(root, **options):
    return get_registry().create("dataset", "dcase2026",
                                 {"root": str(root), "types": "fan,ToyCar,ToyDrone",
                                  "clip_seconds": SECONDS, **options})


def test_the_two_channel_tree_is_read_in_the_official_names(tree):
    clips = _dataset(tree).clips()
    dev = [c for c in clips if dict(c.attributes).get("set") == "dev"]
    ev = [c for c in clips if dict(c.attributes).get("set") == "eval"]
    assert len(dev) == 2 * (6 + 8) and len(ev) == 3  # no evaluation test data published
    test = [c for c in dev if c.split == "test"]
    assert {(c.domain, c.label) for c in test} == {("source", 0), ("source", 1),
                                                   ("target", 0), ("target", 1)}
    assert {c.machine_id for c in clips} == {"00"}
    assert all(c.file_name == c.path.name for c in clips)
    assert EDITIONS[2026].protocol == "dcase2022" and not EDITIONS[2026].eval_list


@pytest.mark.parametrize("channel", ["near", "far", "mean"])
def test_each_channel_option_gives_its_input(tree, channel):
    dataset = _dataset(tree, channel=channel)
    clip = dataset.clips()[0]
    x = read_clip(clip.path, dataset.audio)
    stereo, _ = sf.read(clip.path, dtype="float32", always_2d=True)
    want = {"near": stereo[:, 0], "far": stereo[:, 1], "mean": stereo.mean(axis=1)}[channel]
    np.testing.assert_allclose(x, want, atol=1e-6)
    # the baseline's input, channel 0, is the default
    assert dataset.audio.channel == {"near": 0, "far": 1, "mean": None}[channel]
    assert _dataset(tree).audio.channel == 0


def test_a_mono_file_has_no_far_channel(tmp_path, tree):
    mono = tmp_path / "dev_data" / "fan" / "train" / "section_00_source_train_normal_0000_.wav"
    mono.parent.mkdir(parents=True)
    sf.write(mono, np.full(RATE, 0.1, np.float32), RATE)
    far = _dataset(tree, channel="far").audio
    with pytest.raises(Exception, match="channel 1 asked for"):
        read_clip(mono, far)
    with pytest.raises(AsdbenchError, match="data.channel must be one of"):
        _dataset(tree, channel="left")


def test_submissions_carry_the_official_file_names(tree, tmp_path):
    clips = [c for c in _dataset(tree).clips() if c.split == "test"]
    frame = pd.DataFrame({"file": [c.file_name for c in clips],
                          "machine_type": [c.machine_type for c in clips],
                          "machine_id": [c.machine_id for c in clips],
                          "domain": [c.domain for c in clips], "label": [c.label for c in clips],
                          "score": np.linspace(0, 1, len(clips)),
                          "decision": [k % 2 for k in range(len(clips))]})
    layout = next(p for p in PROTOCOLS if p.name == EDITIONS[2026].protocol).submission_layout
    written = sorted(p.name for p in write_submission(frame, tmp_path, layout=layout))
    assert written == [f"{kind}_{t}_section_00_test.csv"
                       for kind in ("anomaly_score", "decision_result") for t in ("ToyCar", "fan")]
    lines = pd.read_csv(tmp_path / "anomaly_score_fan_section_00_test.csv", header=None)
    assert sorted(lines[0]) == sorted(c.file_name for c in clips if c.machine_type == "fan")
    assert lines[0].str.match(r"^section_00_(source|target)_test_(normal|anomaly)_\d{4}_\.wav$").all()


def test_fetch_lists_the_organisers_archives():
    got = archives(2026)
    urls = [a["url"] for a in got]
    # nttcslab/dcase2023_task2_baseline_ae @9b64dc4 data_download_2026dev.sh, ..._2026add.sh
    assert "https://zenodo.org/records/19336329/files/dev_ToyCar_r2.zip" in urls
    assert "https://zenodo.org/records/19336329/files/dev_bearingEmu.zip" in urls
    assert "https://zenodo.org/records/20151556/files/eval_data_SewingMachine_train.zip" in urls
    assert len(got) == 7 + 5 and not any(a["part"] == "eval" for a in got)
    assert all(a["md5"] is None and "2026" in a["source"] for a in got)
