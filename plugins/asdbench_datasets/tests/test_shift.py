"""The ``synthetic-shift`` dataset: its plan, and clips that are deterministic and shifted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from asdbench_datasets import shift

from asdbench.data import ANOMALY, NORMAL, TEST, TRAIN
from asdbench.plugins import get_registry
from asdbench.registry import AsdbenchError


def make(**options):
    return get_registry().create("dataset", "synthetic-shift", options)


def test_shift_plan_and_signals_are_deterministic_and_shifted():
    ds = make(types="fan", sections_per_type=1, source_train_per_section=3,
              target_train_per_section=1, test_normal_per_domain=1, test_anomaly_per_domain=1,
              clip_seconds=0.5)
    files = list(ds.plan.files())
    assert Counter((f[3], f[4], f[5]) for f in files) == {
        ("source", TRAIN, NORMAL): 3, ("target", TRAIN, NORMAL): 1, ("source", TEST, NORMAL): 1,
        ("target", TEST, NORMAL): 1, ("source", TEST, ANOMALY): 1, ("target", TEST, ANOMALY): 1}
    assert {"_".join(Path(rel).stem.split("_")[6:]) for rel, *_ in files} == {
        "spd_100_bg_A", "spd_106_bg_B"}
    machine = shift.make_machine("fan", 0, 1, 0)
    assert shift.domain_machine(machine, "target", 1.06).rot_hz == pytest.approx(
        1.06 * machine.rot_hz)
    a = shift.shift_signal(ds.plan, ds.audio, machine, 0, "target", TRAIN, NORMAL, 0)
    b = shift.shift_signal(ds.plan, ds.audio, machine, 0, "target", TRAIN, NORMAL, 0)
    c = shift.shift_signal(ds.plan, ds.audio, machine, 0, "source", TRAIN, NORMAL, 0)
    assert a.dtype == np.int16 and np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(AsdbenchError, match="target_background_db"):
        make(target_background_db="loud")
    assert make(target_background_db="none").plan.target_background_db is None


def test_clips_are_listed_from_the_plan_with_their_domain_and_attributes(tmp_path):
    options = dict(root=str(tmp_path), types="fan,pump", sections_per_type=2,
                   source_train_per_section=2, target_train_per_section=1,
                   test_normal_per_domain=1, test_anomaly_per_domain=1, clip_seconds=0.25)
    ds = make(**options)
    ds.progress = False
    clips = ds.clips()
    assert sorted(Path(c.path).relative_to(ds.folder).as_posix() for c in clips) == sorted(
        rel for rel, *_ in ds.plan.files())
    assert all(Path(c.path).is_file() for c in clips)
    assert ds.classes == ["fan/00", "fan/01", "pump/00", "pump/01"]
    assert Counter((c.machine_type, c.split, c.domain) for c in clips)[("pump", TEST, "target")] == 4
    assert {dict(c.attributes)["attributes"] for c in clips if c.domain == "target"} == {
        "spd_106_bg_B"}
    assert {c.subclass for c in clips} == {""}
    by_attribute = make(**options, attribute_classes=True)
    assert by_attribute.classes == [f"{t}/{s}/spd_{v}" for t in ("fan", "pump")
                                    for s in ("00", "01") for v in ("100_bg_A", "106_bg_B")]
