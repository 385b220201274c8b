"""A deterministic generator of machine sounds whose faults change what identifies a machine
(dataset ``synthetic``).

Why: a benchmark must run out of the box, on a CPU, in minutes, and still rank methods the way
real data does. On DCASE 2020, machine-ID classifiers beat density models because the IDs of
a type are physical machines of one model, told apart by many fine cues, and a fault changes
the machine's own signature. The generator is built that way (:mod:`.sound.synth`):

- **IDs**: machines of one model that differ in several properties at once: speed (within a
  few %), harmonic amplitude profile, structural resonances (which colour both harmonics and
  flow noise), noise colour and level, rotation-locked modulation, and for the valve its cycle.
  ``id_similarity`` scales every deviation by ``1 - id_similarity`` (1: identical IDs).
- **types**: ``fan`` (7 blades), ``pump`` (5 vanes), ``gearbox`` (27-tooth mesh with
  sidebands), ``valve`` (strongly non-stationary: flow bursts and clicks of a cycling solenoid
  valve) and ``conveyor`` (the ToyConveyor case: IDs a third as different as the others').
- **faults** (:mod:`.sound.faults`, amounts documented there): bearing wear (a resonance
  raised and moved up, impulses at the bearing frequency), imbalance (1x order and
  sidebands), a damaged blade/vane/tooth/belt lug (pass-harmonic profile, once-per-revolution
  modulation), loosened mounts (resonances move down), cavitation and leaks (broadband sound
  in a band the ID lacks), a sticking valve (timing, bounces, decay); faults that load the
  motor slow it. Severity varies per clip (uniform 0.5-1) and per ID (1 down to 0.6: hard IDs)
  and is divided by ``difficulty``.
- **each recording**: an operating state (light, nominal or heavy load: speed x 0.94 / 1 /
  1.06), a colouration of its own (microphone position, room) and factory background 0-15 dB
  below the machine (colour, another machine's hum), with unrelated knocks in normal and
  anomalous clips alike: normal variation every ID shares.

Version 3 (session 5, issue 14; version 2's values: ``sound.synth.VERSION_2``); what
was measured on each: ``results/synthetic-calibration.md``.

Clips are written once as 16-bit WAVs in the DCASE 2020 development layout under
``<root>/synthetic/<parameter hash>/`` (``root`` defaults to the cache folder) and listed with
the same parser as the real development set. A generation is bit-identical for the same
parameters and seed: every clip has its own random stream, seeded by (seed, type, ID, split,
label, index), so the clips of one type do not depend on which other types are generated.
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
from asdbench_datasets.dcase2020 import list_dev
from asdbench_datasets.options import SYNTHETIC_GENERATOR_VERSION
from asdbench_datasets.sound.synth import (
    TYPES,
    Machine,
    make_machine,
    pick_fault,
    render,
    stable_code,
    to_pcm16,
)

# Bump (in asdbench_datasets.options) whenever the generated sound changes: the folder name
# (parameter hash) and every run id (the option data.generator_version) change with it.
GENERATOR_VERSION = SYNTHETIC_GENERATOR_VERSION


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
    id_similarity: float

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
    machines = {(t, i): make_machine(t, i, plan.ids_per_type, plan.seed, plan.id_similarity)
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
            id_similarity=float(options["id_similarity"]),
        )
        self._set_base(options, progress)

    def write(self, folder: Path) -> None:
        generate(folder, self.plan, self.audio, self.progress)

    def _list(self, report: DataReport) -> list[Clip]:
        return list_dev(self.ensure(), list(self.plan.types), report, dataset=self.name,
                        set_name="synthetic")


def make_synthetic(options: dict[str, Any]) -> SyntheticDataset:
    return SyntheticDataset(options)
