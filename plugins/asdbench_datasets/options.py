"""The option schemas of the shipped datasets (one owner: the hooks and the dataset modules both
read them from here).

Light on purpose: no numpy, torch or soundfile, so ``asdbench plugins`` lists the datasets
and their options without importing the readers or the sound generator.
"""

from __future__ import annotations

from typing import Any

from asdbench.sdk import Option, join

# --- dcase2020 -------------------------------------------------------------------------------

DCASE2020_TYPES = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")
DCASE2020_OPTIONS: dict[str, Any] = {
    "root": Option("", help="the development set's folder (--data-root)"),
    "eval_root": Option("", help="the evaluation set's folder (additional training and test "
                                 "data); empty: development set only"),
    "types": Option(",".join(DCASE2020_TYPES), help="comma-separated machine types"),
    "sample_rate": Option(16000, minimum=1000, help="sample rate clips are resampled to (Hz)"),
    "clip_seconds": Option(10.0, above=0, help="clip length clips are cut or padded to (s)"),
}

# --- folder ----------------------------------------------------------------------------------

FOLDER_OPTIONS: dict[str, Any] = {
    "root": Option("", help="the folder of your recordings, one sub-folder per machine type"),
    "types": Option("", help="comma-separated machine types (empty: every sub-folder)"),
    "sample_rate": Option(16000, minimum=1000, help="sample rate clips are resampled to (Hz)"),
    "clip_seconds": Option(10.0, above=0, help="clip length clips are cut or padded to (s)"),
}

# --- synthetic -------------------------------------------------------------------------------

# The machine types the dataset offers: every type the sound generator makes
# (``asdbench_datasets.sound.synth.TYPES``, which needs numpy; a test keeps the two equal).
SYNTHETIC_TYPES = ("fan", "pump", "gearbox", "valve", "conveyor")
# The generator's version (bumped whenever the generated sound changes). It is an option with
# one accepted value so that it is part of every run's config, hence of its run id: runs made
# on different generations of the data never share an id, a leaderboard row or a matrix cell.
SYNTHETIC_GENERATOR_VERSION = 3
SYNTHETIC_OPTIONS: dict[str, Any] = {
    "root": Option("", help="folder the clips are generated under (default: the cache folder)"),
    "types": Option(",".join(SYNTHETIC_TYPES),
                    help=f"comma-separated machine types of {join(SYNTHETIC_TYPES)}"),
    "ids_per_type": Option(3, minimum=1, help="machine IDs (classes) per type"),
    "train_per_id": Option(96, minimum=1, help="normal training clips per ID"),
    # 50 + 50 per ID: results/synthetic-calibration.md (issue 25) measures the interval of the
    # average AUC against the test clips per ID
    "test_normal_per_id": Option(50, minimum=1, help="normal test clips per ID"),
    "test_anomaly_per_id": Option(50, minimum=1, help="anomalous test clips per ID"),
    "sample_rate": Option(16000, minimum=1000, help="sample rate in Hz"),
    "clip_seconds": Option(1.0, above=0, help="clip length in seconds"),
    "seed": Option(0, minimum=0, help="seed of the generator (same seed, same files)"),
    "generator_version": Option(SYNTHETIC_GENERATOR_VERSION,
                                choices=(SYNTHETIC_GENERATOR_VERSION,),
                                help="the sound generator's version, recorded in the run id "
                                     "(only the installed version can be generated)"),
    "difficulty": Option(1.0, above=0, help="fault severity is divided by it (2: half as "
                                            "strong faults, harder to detect)"),
    "id_similarity": Option(0.0, minimum=0.0, maximum=1.0,
                            help="how alike the IDs of a type are: every per-ID deviation "
                                 "(speed, harmonics, resonances, noise, modulation) is scaled "
                                 "by 1 - id_similarity (0: as built, 1: identical IDs)"),
}

# --- synthetic-shift -------------------------------------------------------------------------

# Bumped whenever the generated sound changes (3: the synthetic generator's version 3 machines
# and faults); an option with one accepted value, so that run ids change with it.
SHIFT_VERSION = 3
SHIFT_OPTIONS: dict[str, Any] = {
    "root": Option("", help="folder the clips are generated under (default: the cache folder)"),
    "types": Option("fan,pump", help="comma-separated machine types of the synthetic "
                                     "generator (empty: all of them)"),
    "sections_per_type": Option(2, help="sections (machines, one class each) per type"),
    "source_train_per_section": Option(24, help="source-domain normal training clips per "
                                                "section"),
    "target_train_per_section": Option(3, help="target-domain normal training clips per "
                                               "section (few, as in DCASE 2022+)"),
    "test_normal_per_domain": Option(8, help="normal test clips per section and domain"),
    "test_anomaly_per_domain": Option(8, help="anomalous test clips per section and domain"),
    "sample_rate": Option(16000, help="sample rate in Hz"),
    "clip_seconds": Option(2.0, help="clip length in seconds"),
    "seed": Option(0, help="seed of the generator (same seed, same files)"),
    "shift_version": Option(SHIFT_VERSION, choices=(SHIFT_VERSION,),
                            help="the generator's version, recorded in the run id (only the "
                                 "installed version can be generated)"),
    "difficulty": Option(1.0, help="fault strengths are divided by it"),
    "target_speed": Option(1.06, help="speed of the target-domain machine relative to the "
                                      "source one (1.06: 6 % faster)"),
    # a number or "none": declared, since a plain float default would refuse "none"
    "target_background_db": Option(-12.0, type=float, choices=("none", None),
                                   help="target-domain background in dB; none: no background"),
    "attribute_classes": Option(False, help="one class per (type, section, attribute string) "
                                            "instead of per (type, section)"),
}
# Like the synthetic set's default: a logmel/tfstgram run of a few CPU minutes.
SHIFT_EPOCHS = 6
