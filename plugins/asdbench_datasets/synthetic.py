"""A deterministic generator of machine-like sounds with realistic faults (dataset ``synthetic``).

Why: a benchmark must run out of the box, on a CPU, in minutes, and still rank methods. The
sounds are built from what machine recordings are made of:

- **rotating parts**: a harmonic series of the rotation frequency (blade pass of a fan, vane
  pass of a pump, gear mesh with its sidebands), with slow speed wander;
- **flow noise**: broadband noise shaped per machine, amplitude-modulated by the rotation;
- **mechanical events**: periodic clicks exciting a resonance (a solenoid valve);
- **the room**: pink background noise and, in normal and anomalous clips alike, occasional
  unrelated knocks (so a detector cannot just flag any impulse).

The IDs of one type are deliberately similar (rotation speeds about 2 % apart, harmonic
profiles within a few dB): telling them apart is the hard part of classifier-based detectors,
and an anomaly can make one ID sound like its neighbour. Anomalies are faults of machines:
bearing defects (impulses at a non-integer multiple of the speed, exciting a high resonance),
imbalance (a stronger shaft tone with modulation sidebands), rattles of loose parts, speed
drift, cavitation, a broken gear tooth, leaks and sticking valves. Their strength varies per
clip and per ID (some IDs are hard) and scales with ``difficulty``.

Clips are written once as 16-bit WAVs in the DCASE 2020 development layout under
``<root>/synthetic/<parameter hash>/`` (``root`` defaults to the cache folder) and listed with
the same parser as the real development set. A generation is bit-identical for the same
parameters and seed: every clip has its own random stream, seeded by (seed, type, ID, split,
label, index), so the clips of one type do not depend on which other types are generated.
The sound building blocks (machines, faults, rendering) are :mod:`asdbench.sdk.synth`.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    join,
    parse_types,
    write_wavs,
)
from asdbench.sdk.synth import (
    TYPES,
    Machine,
    make_machine,
    pick_fault,
    render,
    stable_code,
    to_pcm16,
)
from asdbench_datasets.dcase2020 import list_dev

# Bump whenever the generated sound changes: the folder name (parameter hash) changes with it.
GENERATOR_VERSION = 1


# --- the data set ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to generate: every file name with its machine, label and random stream."""

    types: tuple[str, ...]
    ids_per_type: int
    train_per_id: int
    test_normal_per_id: int
    test_anomaly_per_id: int
    seed: int
    difficulty: float

    def files(self):
        """``(relative path, type, id index, label, clip index, split)`` in a fixed order."""
        for machine_type in self.types:
            for i in range(self.ids_per_type):
                mid = f"{i:02d}"
                for split, label, count in ((TRAIN, NORMAL, self.train_per_id),
                                            (TEST, NORMAL, self.test_normal_per_id),
                                            (TEST, ANOMALY, self.test_anomaly_per_id)):
                    word = "normal" if label == NORMAL else "anomaly"
                    for k in range(count):
                        # Train and test normals are numbered apart, like the DCASE files.
                        number = k if split == TRAIN else 1000 + k
                        rel = f"{machine_type}/{split}/{word}_id_{mid}_{number:08d}.wav"
                        yield rel, machine_type, i, label, k, split


def clip_signal(plan: Plan, audio: AudioSpec, machine: Machine, id_index: int, label: int,
                index: int, split: str) -> np.ndarray:
    """The int16 samples of one planned clip (pure: same inputs, same samples)."""
    rng = np.random.default_rng([plan.seed, stable_code(machine.machine_type), id_index,
                                 0 if split == TRAIN else 1, label, index])
    fault, severity = pick_fault(machine, label, index, rng, plan.difficulty)
    return to_pcm16(render(machine, rng, audio, fault, severity))


def generate(folder: Path, plan: Plan, audio: AudioSpec, progress: bool = True) -> None:
    """Write every planned clip as a 16-bit WAV under ``folder`` (which must be empty)."""
    machines = {(t, i): make_machine(t, i, plan.ids_per_type, plan.seed)
                for t in plan.types for i in range(plan.ids_per_type)}
    files = list(plan.files())
    write_wavs(folder, ((rel, clip_signal(plan, audio, machines[t, i], i, label, k, split))
                        for rel, t, i, label, k, split in files),
               len(files), audio.sample_rate, "synthetic clips", progress)


class SyntheticDataset(GeneratedDataset):
    name = "synthetic"
    version = GENERATOR_VERSION
    version_field = "generator_version"

    def __init__(self, options: dict[str, Any], progress: bool = True) -> None:
        """``options`` as resolved by the registry (checked against SYNTHETIC_OPTIONS)."""
        super().__init__(audio_spec(options, self.name))
        types = parse_types(options["types"]) or list(TYPES)
        unknown = [t for t in types if t not in TYPES]
        if unknown:
            raise AsdbenchError(f"synthetic: unknown machine type '{unknown[0]}' in data.types "
                                f"(available: {join(TYPES)})")
        self.plan = Plan(
            types=tuple(types),
            **{key: int(options[key]) for key in ("ids_per_type", "train_per_id",
                                                  "test_normal_per_id", "test_anomaly_per_id",
                                                  "seed")},
            difficulty=float(options["difficulty"]),
        )
        self._set_base(options, progress)

    def write(self, folder: Path) -> None:
        generate(folder, self.plan, self.audio, self.progress)

    def _list(self, report: DataReport) -> list[Clip]:
        return list_dev(self.ensure(), list(self.plan.types), report, dataset=self.name,
                        set_name="synthetic")


def make_synthetic(options: dict[str, Any]) -> SyntheticDataset:
    return SyntheticDataset(options)
