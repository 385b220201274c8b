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
# (``asdbench.sdk.synth.TYPES``, which needs numpy; a test keeps the two equal).
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
