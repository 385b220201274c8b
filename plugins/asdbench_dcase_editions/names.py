"""File names of the DCASE 2021-2025 Task 2 data sets, parsed by pure functions.

Every edition names its labelled clips the same way (the attributes appear in 2021's training
names and in every 2022+ name)::

    section_<XX>_<source|target>_<train|test>_<normal|anomaly>_<NNNN>[_<attributes>].wav

e.g. ``section_00_source_train_normal_0000_strength_1_ambient.wav`` (2021),
``section_03_target_test_anomaly_0001_vel_25.wav`` (2022),
``section_00_source_test_normal_0003_mdl_A_spd_1.wav`` (2024). ``noAttribute`` (2024+, types
without attributes) means none. The 2024 RoboticArm evaluation names were published without
the ``<train|test>`` part (and, in the official evaluator, without ``.wav``):
``section_00_source_normal_0035_weight15_BckgF``; both forms are accepted.

Evaluation test clips carry no label: ``section_03_source_test_0000.wav`` (2021, the domain is
in the name) and ``section_03_0000.wav`` (2022-2025; the baseline READMEs also show
``section_03_test_0000.wav``, accepted too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asdbench.sdk import ANOMALY, NORMAL

SOURCE, TARGET = "source", "target"
NO_ATTRIBUTE = "noAttribute"

# The attributes are everything after the clip number; values may hold dots ("volt_3.0"),
# so the optional ".wav" is matched lazily from the end.
_LABELLED = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?:(?P<split>train|test)_)?"
    r"(?P<label>normal|anomaly)_(?P<number>\d+)(?:_(?P<attributes>.*?))?(?:\.wav)?$")
_EVAL_TEST = re.compile(
    r"^section_(?P<section>\d+)_(?:(?P<domain>source|target)_)?(?:test_)?(?P<number>\d+)\.wav$")
_LABELS = {"normal": NORMAL, "anomaly": ANOMALY}


@dataclass(frozen=True)
class ClipName:
    """What a labelled DCASE 2021+ file name says about its clip.

    ``split`` is "train"/"test", or "" when the name has none (2024 RoboticArm evaluation
    names); ``attributes`` is the raw attribute string ("" for none or ``noAttribute``).
    """

    section: str
    domain: str
    split: str
    label: int
    number: str
    attributes: str


@dataclass(frozen=True)
class EvalTestName:
    """An unlabelled evaluation test file name; ``domain`` is "" unless the name has it (2021)."""

    section: str
    domain: str
    number: str


def normalize_attributes(raw: str | None) -> str:
    """The attribute string of a name: ``None``, "" and ``noAttribute`` all mean none ("")."""
    raw = (raw or "").strip("_")
    return "" if raw == NO_ATTRIBUTE else raw


def parse_clip_name(name: str) -> ClipName | None:
    """Parse a labelled DCASE 2021+ name (see the module docstring); None if it is not one."""
    m = _LABELLED.match(name)
    if m is None:
        return None
    return ClipName(section=m["section"], domain=m["domain"], split=m["split"] or "",
                    label=_LABELS[m["label"]], number=m["number"],
                    attributes=normalize_attributes(m["attributes"]))


def parse_eval_test_name(name: str) -> EvalTestName | None:
    """Parse an evaluation test file name (``section_03_0000.wav``, 2021's
    ``section_03_source_test_0000.wav``); None if it is not one."""
    m = _EVAL_TEST.match(name)
    if m is None:
        return None
    return EvalTestName(section=m["section"], domain=m["domain"] or "", number=m["number"])


def section_of(name: str) -> str | None:
    """The section of any DCASE 2021+ name, labelled or not (``"03"``), else None."""
    parsed = parse_clip_name(name) or parse_eval_test_name(name)
    return parsed.section if parsed is not None else None


def domain_of(name: str) -> str | None:
    """The domain ("source"/"target") a name states, else None (2022+ evaluation names)."""
    parsed = parse_clip_name(name) or parse_eval_test_name(name)
    return (parsed.domain or None) if parsed is not None else None


def split_of(name: str) -> str | None:
    """"train"/"test" as the name states it, else None."""
    parsed = parse_clip_name(name)
    if parsed is not None:
        return parsed.split or None
    return "test" if parse_eval_test_name(name) is not None else None


def label_of(name: str) -> int | None:
    """``NORMAL``/``ANOMALY`` from a labelled name; None for unlabelled evaluation names."""
    parsed = parse_clip_name(name)
    return parsed.label if parsed is not None else None


def attributes_of(name: str) -> str | None:
    """The raw attribute string of a labelled name ("" for none); None if not labelled."""
    parsed = parse_clip_name(name)
    return parsed.attributes if parsed is not None else None
