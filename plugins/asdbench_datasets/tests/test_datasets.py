"""Shipped datasets (dcase2020, folder, synthetic) and ``asdbench data check``."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asdbench_datasets import dcase2020, synthetic
from click.testing import CliRunner

from asdbench.commands.data import command as data_group
from asdbench.data import ANOMALY, NORMAL, TEST, TRAIN, AudioSpec
from asdbench.datacheck import check_dataset
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError

SR = 8000
DEV_IDS = {"fan": ["00", "02", "04", "06"], "pump": ["00", "02", "04", "06"],
           "slider": ["00", "02", "04", "06"], "valve": ["00", "02", "04", "06"],
           "ToyCar": ["01", "02", "03", "04"], "ToyConveyor": ["01", "02", "03"]}
EVAL_IDS = {"fan": ["01", "03", "05"], "pump": ["01", "03", "05"], "slider": ["01", "03", "05"],
            "valve": ["01", "03", "05"], "ToyCar": ["05", "06", "07"],
            "ToyConveyor": ["04", "05", "06"]}


def wav(path: Path, seconds: float = 0.05, sr: int = SR, seed: int = 0, data=None,
        subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def dev_tree(root: Path, types=tuple(DEV_IDS)) -> Path:
    """One train clip per dev ID and one normal + one anomalous test clip per ID."""
    for t in types:
        for mid in DEV_IDS[t]:
            wav(root / t / "train" / f"normal_id_{mid}_00000000.wav")
            wav(root / t / "test" / f"normal_id_{mid}_00000000.wav")
            wav(root / t / "test" / f"anomaly_id_{mid}_00000000.wav")
    return root


def dataset(name: str, **options):
    return get_registry().create("dataset", name, options)


# --- dcase2020 -------------------------------------------------------------------------------


def test_eval_list_ships_with_the_plugin():
    labels = dcase2020.eval_labels()
    assert list(labels) == list(dcase2020.TYPES)
    assert sum(len(v) for v in labels.values()) == 7103
    assert labels["fan"]["id_01_00000000.wav"] == ("normal_id_01_00000098.wav", 0)
    assert labels["fan"]["id_01_00000001.wav"] == ("anomaly_id_01_00000064.wav", 1)
    assert {name[3:5] for name in labels["ToyCar"]} == set(EVAL_IDS["ToyCar"])


def test_dcase2020_dev_classes_and_labels(tmp_path):
    root = dev_tree(tmp_path / "dev")
    ds = dataset("dcase2020", root=str(root))
    clips = ds.clips()
    assert ds.audio == AudioSpec(16000, 10.0) and ds.protocols[0] == "dcase2020"
    assert len(ds.classes) == 23
    assert sorted({c.machine_id for c in clips if c.machine_type == "ToyCar"}) == DEV_IDS["ToyCar"]
    train = [c for c in clips if c.split == TRAIN]
    assert len(train) == 23 and all(c.label == NORMAL for c in train)
    test = [c for c in clips if c.split == TEST]
    assert sum(c.label == ANOMALY for c in test) == 23
    a = next(c for c in test if c.label == ANOMALY and c.machine_type == "valve")
    assert a.file_name == a.path.name and a.path.name.startswith("anomaly_id_")
    assert not ds.report


def test_dcase2020_dev_plus_eval_gives_41_classes_and_official_labels(tmp_path):
    root = dev_tree(tmp_path / "dev")
    ev = tmp_path / "eval"
    labels = dcase2020.eval_labels()
    chosen = {}
    for t in dcase2020.TYPES:
        for mid in EVAL_IDS[t]:
            wav(ev / t / "train" / f"normal_id_{mid}_00000000.wav")
        # Three real evaluation file names of this type, from the official list.
        chosen[t] = list(labels[t])[:3]
        for name in chosen[t]:
            wav(ev / t / "test" / name)
    wav(ev / "fan" / "test" / "id_01_99999999.wav")  # not in the official list
    ds = dataset("dcase2020", root=str(root), eval_root=str(ev))
    clips = ds.clips()
    assert len(ds.classes) == 41
    fan_ids = sorted({c.machine_id for c in clips if c.machine_type == "fan" and c.split == TRAIN})
    assert fan_ids == ["00", "01", "02", "03", "04", "05", "06"]
    ev_test = [c for c in clips if dict(c.attributes).get("set") == "eval" and c.split == TEST]
    assert len(ev_test) == 19
    for c in ev_test:
        truth = labels[c.machine_type].get(c.path.name)
        assert c.label == (truth[1] if truth else None)
        assert c.file_name == c.path.name and c.machine_id == c.path.name[3:5]
    missing = sum(len(labels[t]) - 3 for t in dcase2020.TYPES)
    assert ds.report.counts["missing listed file"] == missing
    assert ds.report.counts["unlisted file"] == 1
    # The user's folders are only read.
    assert sorted(p.name for p in (ev / "fan" / "test").iterdir()) == sorted(
        chosen["fan"] + ["id_01_99999999.wav"])


def test_dcase2020_types_option_and_odd_names(tmp_path):
    root = dev_tree(tmp_path / "dev", types=("fan", "ToyCar"))
    wav(root / "fan" / "train" / "anomaly_id_00_00000001.wav")
    wav(root / "fan" / "test" / "readme.wav")
    ds = dataset("dcase2020", root=str(root), types="fan, ToyCar")
    assert len(ds.classes) == 8
    assert ds.report.counts == {"anomaly in train": 1, "unrecognised name": 1}


@pytest.mark.parametrize("case", ["no root", "missing root", "missing type", "empty type"])
def test_dcase2020_layout_errors_name_the_path(tmp_path, case):
    root = dev_tree(tmp_path / "dev", types=("fan",))
    options = {"root": str(root), "types": "fan"}
    if case == "no root":
        options["root"] = ""
        expected = "data.root"
    elif case == "missing root":
        options["root"] = str(tmp_path / "nowhere")
        expected = str(tmp_path / "nowhere")
    elif case == "missing type":
        options["types"] = "fan,pump"
        expected = str(root / "pump")
    else:
        (root / "pump" / "train").mkdir(parents=True)
        (root / "pump" / "test").mkdir()
        options["types"] = "fan,pump"
        expected = str(root / "pump" / "train")
    with pytest.raises(AsdbenchError) as info:
        dataset("dcase2020", **options).clips()
    message = str(info.value)
    assert expected in message and "expected" in message and "\n" not in message


# --- folder ----------------------------------------------------------------------------------


def test_folder_layouts_ids_and_labels(tmp_path):
    root = tmp_path / "rec"
    wav(root / "press" / "train" / "a.wav")  # no ID anywhere: 00
    wav(root / "press" / "train" / "normal_id_03_00000001.wav")  # ID from the name
    wav(root / "press" / "train" / "id_07" / "x.wav")  # ID from the folder
    wav(root / "press" / "train" / "lineB" / "y.wav")
    wav(root / "press" / "test" / "normal" / "n.wav")
    wav(root / "press" / "test" / "anomaly" / "id_07" / "bad.wav")
    wav(root / "press" / "test" / "anomaly_id_03_00000009.wav")
    wav(root / "press" / "test" / "mystery.wav")
    wav(root / "drill" / "train" / "d.flac")
    wav(root / "drill" / "test" / "normal" / "e.wav")
    ds = dataset("folder", root=str(root))
    got = {(c.machine_type, c.path.name): (c.machine_id, c.split, c.label) for c in ds.clips()}
    assert got == {
        ("drill", "d.flac"): ("00", TRAIN, NORMAL),
        ("drill", "e.wav"): ("00", TEST, NORMAL),
        ("press", "a.wav"): ("00", TRAIN, NORMAL),
        ("press", "normal_id_03_00000001.wav"): ("03", TRAIN, NORMAL),
        ("press", "x.wav"): ("07", TRAIN, NORMAL),
        ("press", "y.wav"): ("lineB", TRAIN, NORMAL),
        ("press", "n.wav"): ("00", TEST, NORMAL),
        ("press", "bad.wav"): ("07", TEST, ANOMALY),
        ("press", "anomaly_id_03_00000009.wav"): ("03", TEST, ANOMALY),
        ("press", "mystery.wav"): ("00", TEST, None),
    }
    assert ds.report.counts == {"unlabelled test file": 1}
    assert dataset("folder", root=str(root), types="drill").classes == ["drill/00"]


def test_folder_errors(tmp_path):
    with pytest.raises(AsdbenchError, match="not found"):
        dataset("folder", root=str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsdbenchError, match="no <type>/train/ folder"):
        dataset("folder", root=str(tmp_path / "empty"))
    (tmp_path / "r" / "fan" / "train").mkdir(parents=True)
    with pytest.raises(AsdbenchError, match="holds no audio files"):
        dataset("folder", root=str(tmp_path / "r")).clips()


# --- synthetic -------------------------------------------------------------------------------

SMALL = dict(types="fan,valve", ids_per_type=2, train_per_id=3, test_normal_per_id=2,
             test_anomaly_per_id=4, sample_rate=8000, clip_seconds=0.5)


def test_synthetic_writes_the_dcase_layout_with_the_requested_counts(tmp_path):
    ds = dataset("synthetic", root=str(tmp_path), **SMALL)
    clips = ds.clips()
    assert ds.folder.parent == tmp_path / "synthetic"
    assert ds.classes == ["fan/00", "fan/01", "valve/00", "valve/01"]
    for key in ds.classes:
        mine = [c for c in clips if c.class_key == key]
        assert sum(c.split == TRAIN for c in mine) == 3
        assert sum(c.split == TEST and c.label == NORMAL for c in mine) == 2
        assert sum(c.split == TEST and c.label == ANOMALY for c in mine) == 4
    info = sf.info(str(clips[0].path))
    assert (info.samplerate, info.frames, info.subtype) == (8000, 4000, "PCM_16")
    assert not ds.report
    assert get_registry().get("dataset", "synthetic").train_defaults["train.epochs"] >= 1


def test_synthetic_is_bit_identical_for_a_seed(tmp_path):
    a = dataset("synthetic", root=str(tmp_path / "a"), **SMALL)
    b = dataset("synthetic", root=str(tmp_path / "b"), **SMALL)
    files_a = sorted(p.relative_to(a.folder) for p in a.ensure().rglob("*.wav"))
    files_b = sorted(p.relative_to(b.folder) for p in b.ensure().rglob("*.wav"))
    assert files_a == files_b and len(files_a) == 36
    for rel in files_a:
        assert (a.folder / rel).read_bytes() == (b.folder / rel).read_bytes()
    c = dataset("synthetic", root=str(tmp_path / "a"), **{**SMALL, "seed": 1})
    assert c.folder != a.folder
    rel = files_a[0]
    assert (c.ensure() / rel).read_bytes() != (a.folder / rel).read_bytes()
    # A type's clips do not depend on which other types are generated.
    d = dataset("synthetic", root=str(tmp_path / "a"), **{**SMALL, "types": "valve"})
    rel = next(r for r in files_a if r.parts[0] == "valve")
    assert (d.ensure() / rel).read_bytes() == (a.folder / rel).read_bytes()


def test_synthetic_reuses_a_complete_generation_and_ignores_a_partial_one(tmp_path, monkeypatch):
    ds = dataset("synthetic", root=str(tmp_path), **SMALL)
    partial = ds.folder
    (partial / "fan" / "train").mkdir(parents=True)  # a killed generation: no marker
    wav(partial / "fan" / "train" / "normal_id_00_00000000.wav")
    assert len(ds.clips()) == 36
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: pytest.fail("regenerated"))
    assert len(dataset("synthetic", root=str(tmp_path), **SMALL).clips()) == 36


def test_synthetic_option_errors():
    with pytest.raises(AsdbenchError, match="unknown machine type 'toaster'"):
        dataset("synthetic", types="fan,toaster")
    with pytest.raises(AsdbenchError, match="data.train_per_id"):
        dataset("synthetic", train_per_id=0)
    with pytest.raises(AsdbenchError, match="data.difficulty"):
        dataset("synthetic", difficulty=-1)


def test_synthetic_anomalies_are_detectable_but_not_trivially(tmp_path):
    """Calibration guard: a log-Mel + per-ID Gaussian baseline is neither perfect nor at chance."""
    import torch
    import torchaudio
    from sklearn.covariance import LedoitWolf
    from sklearn.metrics import roc_auc_score

    from asdbench.cache import load_waveforms

    ds = dataset("synthetic", root=str(tmp_path), types="fan,pump", ids_per_type=3,
                 train_per_id=16, test_normal_per_id=12, test_anomaly_per_id=12,
                 clip_seconds=1.0)
    clips = ds.clips()
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, hop_length=512, n_mels=64)

    def stats(group):
        w = load_waveforms(group, ds.audio, tmp_path / "cache", progress=False)
        f = 10 * torch.log10(mel(w.batch(0, len(w))) + 1e-10)
        return torch.cat([f.mean(-1), f.std(-1)], 1).numpy()

    aucs = []
    for key in ds.classes:
        tr = [c for c in clips if c.class_key == key and c.split == TRAIN]
        te = [c for c in clips if c.class_key == key and c.split == TEST]
        score = LedoitWolf().fit(stats(tr)).mahalanobis(stats(te))
        aucs.append(roc_auc_score([c.label for c in te], score))
    assert 0.6 < np.mean(aucs) < 0.95
    assert min(aucs) < 0.85  # some IDs are hard


# --- data check --------------------------------------------------------------------------------


def bad_folder(root: Path) -> Path:
    t = root / "fan"
    for i in range(3):
        wav(t / "train" / f"ok{i}.wav", 1.0, 16000, seed=i)
    wav(t / "train" / "stereo.wav", data=0.1 * np.ones((16000, 2)), sr=16000)
    wav(t / "train" / "rate.wav", 1.0, 22050)
    wav(t / "train" / "short.wav", 0.3, 16000)
    wav(t / "train" / "silent.wav", data=np.zeros(16000), sr=16000)
    wav(t / "train" / "nan.wav", data=np.full(16000, np.nan), sr=16000, subtype="FLOAT")
    (t / "train" / "corrupt.wav").write_bytes(b"RIFF....WAVEgarbage")
    wav(t / "test" / "normal" / "n.wav", 1.0, 16000)
    wav(t / "test" / "anomaly" / "a.wav", 1.0, 16000)
    wav(t / "test" / "what.wav", 1.0, 16000)
    return root


def test_check_dataset_counts_and_reports_every_problem(tmp_path):
    ds = dataset("folder", root=str(bad_folder(tmp_path / "rec")), clip_seconds=1.0)
    summary = check_dataset(ds, cache_dir=tmp_path / "cache")
    assert summary.rows == [{"machine_type": "fan", "machine_id": "00", "train": 9,
                             "test_normal": 1, "test_anomaly": 1, "test_unlabelled": 1,
                             "unusable": 4}]
    assert summary.counts == {"multi-channel": 1, "resampled": 1, "too short": 1, "silent": 1,
                              "not finite": 1, "unreadable": 1, "unlabelled test file": 1}
    assert summary.classes == ["fan/00"]
    listed = check_dataset(ds, decode=False)
    assert listed.rows[0]["unusable"] == 0 and listed.counts == {"unlabelled test file": 1}


def test_data_check_command(tmp_path):
    root = bad_folder(tmp_path / "rec")
    runner = CliRunner()
    result = runner.invoke(data_group, ["check", "--dataset", "folder", "--data-root",
                                        str(root), "--set", "data.clip_seconds=1.0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["num_classes"] == 1 and out["rows"][0]["unusable"] == 4
    assert out["problem_counts"]["silent"] == 1 and len(out["problems"]) == 7
    table = runner.invoke(data_group, ["check", "--dataset", "folder", "--data-root", str(root),
                                       "--set", "data.clip_seconds=1.0", "--strict"])
    assert table.exit_code == 2 and "too short" in table.stdout and "unusable" in table.stdout
    wrong = runner.invoke(data_group, ["check", "--dataset", "folder", "--set", "train.epochs=3"])
    assert isinstance(wrong.exception, AsdbenchError) and "data.KEY" in str(wrong.exception)
