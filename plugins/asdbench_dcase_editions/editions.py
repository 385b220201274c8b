"""What differs between the DCASE Task 2 editions 2021-2026: machine types, clip length, rules.

Sections: 2021 and 2022 have three development sections (00-02) and three evaluation
sections (03-05) of the same machine types; from 2023 on every machine type has one section
(00) and the evaluation machine types differ from the development ones ("first shot").

Clip length (``clip_seconds``): 2021 and 2022 clips are 10 s. From 2023 on clips last 6 s or
more (up to 18 s in 2023), varying by machine type. The engine brings every clip to one length
(cut at the end, zero-padded when shorter), and zero padding teaches a model that silence is
normal, so the 2023-2025 default is 6 s: every clip is cut to its first 6 s, none is padded.
Set ``data.clip_seconds`` to keep more of the longer clips (shorter ones are then padded).

2026 ("noise-aware"): two-channel recordings, the near microphone left (channel 0), the far
one right (channel 1). The organisers' baseline reads channel 0 only (nttcslab/
dcase2023_task2_baseline_ae @9b64dc4, README.md lines 16 and 69-72; datasets/
loader_common.py lines 112-114: ``librosa.load(mono=False)`` then ``y[0]``); ``data.channel``
chooses near (the default, as the baseline), far or their mean. Two inputs at once are not
offered: the engine's frontends take one waveform. Machine types and sections:
``datasets/machine_type_2026_{dev,eval}.yaml`` of the same commit (one section, 00, each).
As of that commit (2026-05-18) the evaluation test data, its ground-truth list and an official
2026 evaluator are not published (the README's evaluation-data lines are commented out;
``tools/rename_eval_wav.py`` names an ``eval_data_list_2026.csv`` the repository does not
hold): the 2026 scores are the development set's, and evaluation test clips found on disk
are scored unlabelled, for the submission files only. Its protocol is assumed to be the
2023-2025 one (``dcase2022``), and its clip length the 2023-2025 default (6 s): neither is
stated for 2026.
"""

from __future__ import annotations

from dataclasses import dataclass

# The development machine types of 2023, 2024 and 2025 (one section each).
_DEV_2023 = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")


@dataclass(frozen=True)
class Edition:
    """One edition of DCASE Task 2 (unsupervised anomalous sound detection)."""

    year: int
    dev_types: tuple[str, ...]
    eval_types: tuple[str, ...]
    clip_seconds: float
    protocol: str  # official metric protocol of asdbench.metrics
    title: str
    eval_list: bool = True  # the evaluation ground truth is published (and shipped)
    two_channel: bool = False  # near (left) and far (right) microphone, 2026

    @property
    def name(self) -> str:
        return f"dcase{self.year}"

    @property
    def types(self) -> tuple[str, ...]:
        """Every machine type of the edition (development first), without duplicates."""
        return tuple(dict.fromkeys(self.dev_types + self.eval_types))


EDITIONS: dict[int, Edition] = {
    2021: Edition(2021, ("fan", "gearbox", "pump", "slider", "ToyCar", "ToyTrain", "valve"),
                  ("fan", "gearbox", "pump", "slider", "ToyCar", "ToyTrain", "valve"),
                  10.0, "dcase2021", "domain shift"),
    2022: Edition(2022, _DEV_2023, _DEV_2023, 10.0, "dcase2022",
                  "domain generalization"),
    2023: Edition(2023, _DEV_2023,
                  ("bandsaw", "grinder", "shaker", "ToyDrone", "ToyNscale", "ToyTank", "Vacuum"),
                  6.0, "dcase2022", "first shot"),
    2024: Edition(2024, _DEV_2023,
                  ("3DPrinter", "AirCompressor", "BrushlessMotor", "HairDryer", "HoveringDrone",
                   "RoboticArm", "Scanner", "ToothBrush", "ToyCircuit"),
                  6.0, "dcase2022", "first shot"),
    2025: Edition(2025, _DEV_2023,
                  ("AutoTrash", "BandSealer", "CoffeeGrinder", "HomeCamera", "Polisher",
                   "ScrewFeeder", "ToyPet", "ToyRCCar"),
                  6.0, "dcase2022", "first shot"),
    2026: Edition(2026, ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu",
                         "sliderEmu", "valveEmu"),
                  ("ToyDrone", "ToothBrush", "SewingMachine", "BlowerDustCollector", "Sander"),
                  6.0, "dcase2022", "noise-aware, two channels", eval_list=False,
                  two_channel=True),
}
# data.channel of a two-channel edition -> the channel read (None: both averaged)
CHANNELS: dict[str, int | None] = {"near": 0, "far": 1, "mean": None}

# The paper's schedule (300 epochs), as for DCASE 2020: 2021/2022 hold about as many training
# clips as 2020 (~40k with the additional training data), 2023-2025 about a third of that.
EPOCHS = 300
