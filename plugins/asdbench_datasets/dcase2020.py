"""DCASE 2020 Task 2 (MIMII + ToyADMOS): the development set, optionally with the evaluation set.

Expected layout (the archives unzipped, files never renamed)::

    <root>/<type>/train/normal_id_XX_NNNNNNNN.wav            development training data
    <root>/<type>/test/{normal,anomaly}_id_XX_NNNNNNNN.wav    development test data
    <eval_root>/<type>/train/normal_id_XX_NNNNNNNN.wav       additional training data
    <eval_root>/<type>/test/id_XX_NNNNNNNN.wav               evaluation test data (no label)

The evaluation labels come from the official ground-truth list shipped with this plugin
(``dcase2020_task2_eval_data_list.csv``): a line with only a machine type starts that type's
block, the others are ``test_file_name,original_name,label``. One class per (type, ID): the
development set alone gives 23 classes, development + additional training data 41.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
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
    join,
    parse_types,
)
from asdbench_datasets.dcase2020_archives import archives as _archives
from asdbench_datasets.options import DCASE2020_TYPES as TYPES

EVAL_LIST = "dcase2020_task2_eval_data_list.csv"

_DEV_NAME = re.compile(r"^(normal|anomaly)_id_(\d+)_.+\.wav$")
_EVAL_NAME = re.compile(r"^id_(\d+)_.+\.wav$")
_LABEL = {"normal": NORMAL, "anomaly": ANOMALY}

DEV_LAYOUT = ("<root>/<type>/train/normal_id_XX_*.wav and "
              "<root>/<type>/test/{normal,anomaly}_id_XX_*.wav")
EVAL_LAYOUT = "<eval_root>/<type>/train/normal_id_XX_*.wav and <eval_root>/<type>/test/id_XX_*.wav"


@lru_cache(maxsize=4)
def eval_labels(path: str | None = None) -> dict[str, dict[str, tuple[str, int]]]:
    """The official evaluation ground truth: ``{type: {test_file_name: (original, label)}}``."""
    if path is None:
        text = resources.files("asdbench_datasets").joinpath(EVAL_LIST).read_text()
    else:
        text = Path(path).read_text()
    out: dict[str, dict[str, tuple[str, int]]] = {}
    current: dict[str, tuple[str, int]] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = [f.strip() for f in line.split(",")]
        if not fields[0]:
            continue
        if len(fields) == 1:
            current = out.setdefault(fields[0], {})
        elif len(fields) == 3 and current is not None and fields[2] in ("0", "1"):
            current[fields[0]] = (fields[1], int(fields[2]))
        else:
            raise AsdbenchError(f"{path or EVAL_LIST}:{lineno}: unexpected line '{line.strip()}'")
    return out


def _type_folder(root: Path, machine_type: str, dataset: str, layout: str) -> Path:
    folder = root / machine_type
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise AsdbenchError(f"{dataset}: machine type folder {folder} not found (expected "
                            f"{layout}; types found: {join(found)}; choose with "
                            "--set data.types=...)")
    return folder


def check_root(root: Any, dataset: str, option: str, layout: str) -> Path:
    if root is None or str(root).strip() == "":
        raise AsdbenchError(f"{dataset}: no data folder given; set {option} (expected {layout})")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise AsdbenchError(f"{dataset}: data folder {path} not found (expected {layout})")
    return path


def list_dev(root: Path, types: list[str], report: DataReport, *, dataset: str = "dcase2020",
             set_name: str = "dev") -> list[Clip]:
    """Clips of a DCASE 2020 development-style tree (``normal|anomaly_id_XX_*.wav`` names).

    Used for the real development set and for generated synthetic data alike. An absent or
    empty type folder is an error; oddly named files are reported and skipped.
    """
    clips: list[Clip] = []
    attributes = (("set", set_name),)
    for machine_type in types:
        folder = _type_folder(root, machine_type, dataset, DEV_LAYOUT)
        for split in (TRAIN, TEST):
            files = audio_files(folder / split)
            if not files:
                raise AsdbenchError(f"{dataset}: {folder / split} holds no .wav files "
                                    f"(expected {DEV_LAYOUT})")
            for path in files:
                m = _DEV_NAME.match(path.name)
                if m is None:
                    report.add(path, "unrecognised name: expected {normal,anomaly}_id_XX_*.wav; "
                                     "file ignored")
                    continue
                label = _LABEL[m.group(1)]
                if split == TRAIN and label != NORMAL:
                    report.add(path, "anomaly in train: training data must be normal; "
                                     "file ignored")
                    continue
                clips.append(Clip(path=path, machine_type=machine_type, machine_id=m.group(2),
                                  split=split, label=label, attributes=attributes))
    return clips


def list_eval(root: Path, types: list[str], report: DataReport,
              labels: dict[str, dict[str, tuple[str, int]]], *,
              dataset: str = "dcase2020") -> list[Clip]:
    """Additional training clips and labelled evaluation test clips of an evaluation tree."""
    clips: list[Clip] = []
    attributes = (("set", "eval"),)
    for machine_type in types:
        folder = _type_folder(root, machine_type, dataset, EVAL_LAYOUT)
        train = audio_files(folder / TRAIN)
        test = audio_files(folder / TEST)
        for split, files in ((TRAIN, train), (TEST, test)):
            if not files:
                raise AsdbenchError(f"{dataset}: {folder / split} holds no .wav files "
                                    f"(expected {EVAL_LAYOUT})")
        for path in train:
            m = _DEV_NAME.match(path.name)
            if m is None or m.group(1) != "normal":
                report.add(path, "unrecognised name: expected normal_id_XX_*.wav in the "
                                 "additional training data; file ignored")
                continue
            clips.append(Clip(path=path, machine_type=machine_type, machine_id=m.group(2),
                              split=TRAIN, label=NORMAL, attributes=attributes))
        listed = labels.get(machine_type, {})
        present = set()
        for path in test:
            m = _EVAL_NAME.match(path.name)
            if m is None:
                report.add(path, "unrecognised name: expected id_XX_*.wav in the evaluation "
                                 "test data; file ignored")
                continue
            present.add(path.name)
            truth = listed.get(path.name)
            if truth is None:
                report.add(path, "unlisted file: not in the official evaluation list, "
                                 "label unknown")
            clips.append(Clip(path=path, machine_type=machine_type, machine_id=m.group(1),
                              split=TEST, label=None if truth is None else truth[1],
                              attributes=attributes, name=path.name))
        for name in sorted(set(listed) - present):
            report.add(folder / TEST / name, "missing listed file: in the official evaluation "
                                             "list but not on disk")
    return clips


class Dcase2020(ListedDataset):
    name = "dcase2020"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(audio_spec(options, self.name))
        self.types = parse_types(options["types"]) or list(TYPES)
        self.root = check_root(options["root"], self.name, "--data-root (data.root)", DEV_LAYOUT)
        eval_root = options.get("eval_root")
        self.eval_root = (check_root(eval_root, self.name, "data.eval_root", EVAL_LAYOUT)
                          if eval_root not in (None, "") else None)

    def _list(self, report: DataReport) -> list[Clip]:
        clips = list_dev(self.root, self.types, report, dataset=self.name)
        if self.eval_root is not None:
            clips += list_eval(self.eval_root, self.types, report, eval_labels(),
                               dataset=self.name)
        return clips


def make_dcase2020(options: dict[str, Any]) -> Dcase2020:
    return Dcase2020(options)


# The official archives ``asdbench data fetch dcase2020`` downloads (see asdbench_datasets)
make_dcase2020.archives = _archives
