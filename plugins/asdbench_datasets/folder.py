"""Your own recordings, one folder per machine type (dataset ``folder``).

Layout (``.wav`` or ``.flac``, any sample rate and channel count: clips are brought to
``data.sample_rate`` mono and cut/zero-padded to ``data.clip_seconds``)::

    <root>/<type>/train/*.wav                   normal training clips
    <root>/<type>/train/<id>/*.wav              ... of machine <id>
    <root>/<type>/test/normal/[<id>/]*.wav      normal test clips
    <root>/<type>/test/anomaly/[<id>/]*.wav     anomalous test clips
    <root>/<type>/test/*.wav                    test clips labelled by their name:
                                                normal_*.wav / anomaly_*.wav

DCASE-style names (``normal_id_03_00000012.wav``, ``section_00_...``) work too. The machine ID
of a clip is its sub-folder name (``<id>/``, an ``id_`` prefix dropped), else the ``id_XX`` or
``section_XX`` part of its file name, else ``00``. One class is trained per (type, ID); test
clips whose label cannot be told are reported and kept unlabelled (not scored).

Example: ``asdbench run --dataset folder --data-root ~/recordings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asdbench.sdk import (
    ANOMALY,
    NORMAL,
    TEST,
    TRAIN,
    AsdbenchError,
    Clip,
    DataReport,
    ListedDataset,
    audio_files,
    audio_spec,
    id_from_name,
    parse_types,
    subfolders,
)
from asdbench_datasets.dcase2020 import check_root

DEFAULT_ID = "00"
LAYOUT = ("<root>/<type>/train/[<id>/]*.wav and "
          "<root>/<type>/test/{normal,anomaly}/[<id>/]*.wav")
_LABEL_DIRS = {"normal": NORMAL, "anomaly": ANOMALY}


def _folder_id(name: str) -> str:
    return name[3:] if name.lower().startswith("id_") and len(name) > 3 else name


def _label_from_name(stem: str) -> int | None:
    low = stem.lower()
    for word, label in _LABEL_DIRS.items():
        if low.startswith(word + "_") or f"_{word}_" in low or low.endswith("_" + word):
            return label
    return None


def _with_ids(folder: Path) -> list[tuple[Path, str | None]]:
    """Files directly in ``folder`` (ID from name) and in its sub-folders (ID = sub-folder)."""
    out: list[tuple[Path, str | None]] = [(p, None) for p in audio_files(folder)]
    for sub in subfolders(folder):
        out += [(p, _folder_id(sub.name)) for p in audio_files(sub)]
    return out


def list_folder(root: Path, types: list[str], report: DataReport,
                dataset: str = "folder") -> list[Clip]:
    clips: list[Clip] = []
    for machine_type in types:
        folder = root / machine_type
        if not folder.is_dir():
            raise AsdbenchError(f"{dataset}: machine type folder {folder} not found "
                                f"(expected {LAYOUT})")
        train = _with_ids(folder / TRAIN)
        if not train:
            raise AsdbenchError(f"{dataset}: {folder / TRAIN} holds no audio files "
                                f"(expected {LAYOUT})")
        for path, mid in train:
            if _label_from_name(path.stem) == ANOMALY:
                report.add(path, "anomaly in train: training data must be normal; file ignored")
                continue
            clips.append(Clip(path, machine_type, mid or id_from_name(path.stem) or DEFAULT_ID,
                              TRAIN, NORMAL))
        test_dir = folder / TEST
        tests: list[tuple[Path, str | None, int | None]] = []
        for path in audio_files(test_dir):
            tests.append((path, None, _label_from_name(path.stem)))
        for sub in subfolders(test_dir):
            label = _LABEL_DIRS.get(sub.name.lower())
            if label is None:  # test/<id>/*.wav: labels from the names
                tests += [(p, _folder_id(sub.name), _label_from_name(p.stem))
                          for p in audio_files(sub)]
            else:
                tests += [(p, mid, label) for p, mid in _with_ids(sub)]
        if not tests:
            report.add(test_dir, "no test clips: nothing to evaluate for this type")
        for path, mid, label in tests:
            if label is None:
                report.add(path, "unlabelled test file: put it in test/normal/ or "
                                 "test/anomaly/, or name it normal_*/anomaly_*")
            clips.append(Clip(path, machine_type, mid or id_from_name(path.stem) or DEFAULT_ID,
                              TEST, label))
    return clips


class FolderDataset(ListedDataset):
    name = "folder"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(audio_spec(options, self.name))
        self.root = check_root(options["root"], self.name, "--data-root (data.root)", LAYOUT)
        self.types = parse_types(options["types"]) or [
            p.name for p in subfolders(self.root) if (p / TRAIN).is_dir()]
        if not self.types:
            raise AsdbenchError(f"{self.name}: {self.root} has no <type>/train/ folder "
                                f"(expected {LAYOUT})")

    def _list(self, report: DataReport) -> list[Clip]:
        return list_folder(self.root, self.types, report, self.name)


def make_folder(options: dict[str, Any]) -> FolderDataset:
    return FolderDataset(options)
