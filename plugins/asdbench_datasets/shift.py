"""``synthetic-shift``: the synthetic machine sounds with a DCASE 2022-style domain shift.

Why: the 2022-2025 scoring path (sections, source/target domains, few target training clips,
AUC(source)/AUC(target)/pAUC harmonic mean) must train and score end to end without a
download. The sounds are those of the ``synthetic`` dataset (the same machine-sound model,
:mod:`asdbench_datasets.sound`); a section is one machine (an "ID" there). The target domain of every section is the
same machine running faster (``target_speed``, e.g. 1.06 = 6 % faster) in another room: an
added background (``target_background_db`` relative to the machine, band-limited hum and
noise; "none" for no extra background). As in DCASE 2022+, the target domain has only a few
training clips per section (``target_train_per_section``) against many source clips; test sets
hold normal and anomalous clips of both domains.

Files are written once, DCASE 2022-style, under ``<root>/synthetic-shift/<parameter hash>/``
(``root`` defaults to the cache folder)::

    <type>/train/section_XX_{source,target}_train_normal_NNNN_spd_<S>_bg_<A|B>.wav
    <type>/test/section_XX_{source,target}_test_{normal,anomaly}_NNNN_spd_<S>_bg_<A|B>.wav

and listed from the plan that wrote them (the names parse as DCASE 2022+ names; the
``dcase_editions`` plugin's tests check that). Official protocol: "dcase2022", which that
plugin provides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from asdbench.sdk import (
    ANOMALY,
    NORMAL,
    TEST,
    TRAIN,
    AsdbenchError,
    AudioSpec,
    Clip,
    DataReport,
    GeneratedDataset,
    audio_spec,
    bool_option,
    float_option,
    int_option,
    join,
    parse_types,
    write_wavs,
)
from asdbench_datasets.options import SHIFT_VERSION
from asdbench_datasets.sound.synth import (
    TYPES,
    Machine,
    limit_peak,
    make_machine,
    pick_fault,
    render,
    shaped_noise,
    stable_code,
    to_pcm16,
)

SOURCE, TARGET = "source", "target"
# The clip attributes a DCASE 2021+ listing gives: the set's name and the attribute string.
SET_KEY, ATTR_KEY = "set", "attributes"


def domain_machine(machine: Machine, domain: str, target_speed: float) -> Machine:
    """The machine as recorded in ``domain``: the target domain runs at ``target_speed``×."""
    if domain == SOURCE:
        return machine
    return replace(machine, rot_hz=machine.rot_hz * target_speed,
                   event_period=machine.event_period / target_speed)


def target_background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Unit-RMS background of the target room: a mains-like hum with harmonics plus
    low-mid band noise (a different room, not a fault)."""
    t = np.arange(n) / sr
    hum = sum(a * np.sin(2 * np.pi * 50.0 * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in ((1, 1.0), (2, 0.5), (3, 0.35), (5, 0.2)))
    y = hum / np.sqrt(np.mean(hum ** 2)) + 1.5 * shaped_noise(rng, n, sr, 100.0, 1500.0, -2.0)
    return y / np.sqrt(np.mean(y ** 2) + 1e-20)


def attribute_string(domain: str, target_speed: float) -> str:
    """The attributes written into names: speed in % and background room."""
    speed = 100 if domain == SOURCE else int(round(100 * target_speed))
    return f"spd_{speed}_bg_{'A' if domain == SOURCE else 'B'}"


@dataclass(frozen=True)
class ShiftPlan:
    """Every file to generate, from the dataset's options."""

    types: tuple[str, ...]
    sections: int
    source_train: int
    target_train: int
    test_normal: int
    test_anomaly: int
    seed: int
    difficulty: float
    target_speed: float
    target_background_db: float | None

    def files(self):
        """``(relative path, type, section index, domain, split, label, index)``."""
        counts = {(TRAIN, SOURCE, NORMAL): self.source_train,
                  (TRAIN, TARGET, NORMAL): self.target_train,
                  (TEST, SOURCE, NORMAL): self.test_normal, (TEST, TARGET, NORMAL): self.test_normal,
                  (TEST, SOURCE, ANOMALY): self.test_anomaly,
                  (TEST, TARGET, ANOMALY): self.test_anomaly}
        for machine_type in self.types:
            for s in range(self.sections):
                for (split, domain, label), count in counts.items():
                    word = "normal" if label == NORMAL else "anomaly"
                    attrs = attribute_string(domain, self.target_speed)
                    for k in range(count):
                        rel = (f"{machine_type}/{split}/section_{s:02d}_{domain}_{split}_{word}_"
                               f"{k:04d}_{attrs}.wav")
                        yield rel, machine_type, s, domain, split, label, k


def shift_signal(plan: ShiftPlan, audio: AudioSpec, machine: Machine, section: int,
                 domain: str, split: str, label: int, index: int) -> np.ndarray:
    """The int16 samples of one planned clip (pure: same inputs, same samples)."""
    codes = (stable_code(machine.machine_type), section, 0 if split == TRAIN else 1,
             label, index, 0 if domain == SOURCE else 1)
    rng = np.random.default_rng([plan.seed, *codes])
    fault, severity = pick_fault(machine, label, index, rng, plan.difficulty)
    x = render(domain_machine(machine, domain, plan.target_speed), rng, audio, fault, severity)
    if domain == TARGET and plan.target_background_db is not None:
        level = np.sqrt(np.mean(x ** 2)) * 10 ** (plan.target_background_db / 20)
        x = limit_peak(x + level * target_background(rng, len(x), audio.sample_rate))
    return to_pcm16(x)


def generate_shift(folder: Path, plan: ShiftPlan, audio: AudioSpec, progress: bool = True) -> None:
    """Write every planned clip as a 16-bit WAV under ``folder``."""
    machines = {(t, s): make_machine(t, s, plan.sections, plan.seed)
                for t in plan.types for s in range(plan.sections)}
    files = list(plan.files())
    write_wavs(folder, ((rel, shift_signal(plan, audio, machines[t, s], s, domain, split, label, k))
                        for rel, t, s, domain, split, label, k in files),
               len(files), audio.sample_rate, "synthetic-shift clips", progress)


def _int(options: dict[str, Any], key: str, minimum: int) -> int:
    return int_option(options, key, "data", minimum=minimum, owner="synthetic-shift")


def _float(options: dict[str, Any], key: str, minimum: float) -> float:
    return float_option(options, key, "data", above=minimum, owner="synthetic-shift")


class SyntheticShift(GeneratedDataset):
    name = "synthetic-shift"
    protocols = ("dcase2022",)
    version = SHIFT_VERSION
    version_field = "shift_version"

    def __init__(self, options: dict[str, Any], progress: bool = True) -> None:
        super().__init__(audio_spec(options, self.name))
        types = parse_types(options["types"]) or list(TYPES)
        unknown = [t for t in types if t not in TYPES]
        if unknown:
            raise AsdbenchError(f"synthetic-shift: unknown machine type '{unknown[0]}' in "
                                f"data.types (available: {join(TYPES)})")
        background = options["target_background_db"]
        if isinstance(background, str) and background.strip().lower() == "none":
            background = None
        if background is not None and (isinstance(background, bool)
                                       or not isinstance(background, (int, float))):
            raise AsdbenchError("synthetic-shift: data.target_background_db must be a number "
                                f"(dB) or \"none\", got {background!r}")
        self.plan = ShiftPlan(
            types=tuple(types),
            sections=_int(options, "sections_per_type", 1),
            source_train=_int(options, "source_train_per_section", 1),
            target_train=_int(options, "target_train_per_section", 1),
            test_normal=_int(options, "test_normal_per_domain", 1),
            test_anomaly=_int(options, "test_anomaly_per_domain", 1),
            seed=_int(options, "seed", 0),
            difficulty=_float(options, "difficulty", 0.0),
            target_speed=_float(options, "target_speed", 0.0),
            target_background_db=None if background is None else float(background),
        )
        self.attribute_classes = bool_option(options, "attribute_classes", "data",
                                             owner=self.name)
        self._set_base(options, progress)

    def write(self, folder: Path) -> None:
        generate_shift(folder, self.plan, self.audio, self.progress)

    def _list(self, report: DataReport) -> list[Clip]:
        folder = self.ensure()
        clips: list[Clip] = []
        for t in self.plan.types:
            clips += list_planned(folder, self.plan, t, self.attribute_classes)
        return clips


def list_planned(folder: Path, plan: ShiftPlan, machine_type: str,
                 attribute_classes: bool) -> list[Clip]:
    """One type's clips as a DCASE 2022+ listing gives them: training clips, then test clips,
    each sorted by file name. With ``attribute_classes`` each clip's class is its attribute
    string (every domain has training clips, so every test string was trained)."""
    clips = {TRAIN: [], TEST: []}
    for rel, t, s, domain, split, label, _ in plan.files():
        if t != machine_type:
            continue
        attrs = attribute_string(domain, plan.target_speed)
        clips[split].append(Clip(
            path=folder / rel, machine_type=t, machine_id=f"{s:02d}", split=split, label=label,
            domain=domain, attributes=((SET_KEY, "synthetic-shift"), (ATTR_KEY, attrs)),
            subclass=attrs if attribute_classes else ""))
    return [c for split in (TRAIN, TEST)
            for c in sorted(clips[split], key=lambda c: Path(c.path).name)]


def make_synthetic_shift(options: dict[str, Any]) -> SyntheticShift:
    return SyntheticShift(options)
