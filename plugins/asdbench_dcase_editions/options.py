"""The option schemas of the DCASE 2021-2025 datasets and ``synthetic-shift`` (one owner: the
hooks and the dataset modules both read them from here).

Light on purpose: no numpy, pandas or soundfile, so ``asdbench plugins`` lists the datasets and
their options without importing the readers or the sound generator. The types are inferred
from the defaults, as before the help texts were added: values are accepted exactly as then.
"""

from __future__ import annotations

from typing import Any

from asdbench.sdk import Option
from asdbench_dcase_editions.editions import CHANNELS, Edition

TEST_CHOICES = ("all", "dev", "eval")

_ATTRIBUTE_CLASSES = Option(False, help="one class per (type, section, attribute string) "
                                        "instead of per (type, section)")
_SAMPLE_RATE_HELP = "sample rate clips are resampled to (Hz)"


def edition_options(edition: Edition) -> dict[str, Any]:
    """Every option of an edition's dataset: its default and help."""
    channel = {"channel": Option("near", choices=tuple(CHANNELS), help=(
        "microphone read: near (channel 0, left; the organisers' baseline), far (channel 1, "
        "right) or mean (both averaged)"))} if edition.two_channel else {}
    return {**channel,
        "root": Option("", help="the development set, a folder holding dev_data/ (and "
                                f"eval_data/) or one holding dcase{edition.year}t2/ "
                                "(--data-root)"),
        "eval_root": Option("auto", help="the evaluation set (additional training and test "
                                         "data); auto: eval_data beside the development set, "
                                         "if there; '' or none: no evaluation data"),
        "types": Option("", help="comma-separated machine types (empty: the edition's "
                                 "official types, all required)"),
        "test": Option("all", help="the test clips scored: all (development and evaluation, "
                                   "each set scored apart), dev or eval"),
        "sample_rate": Option(16000, help=_SAMPLE_RATE_HELP),
        "clip_seconds": Option(edition.clip_seconds, help="clip length clips are cut or padded "
                                                          "to (s)"),
        "attribute_classes": _ATTRIBUTE_CLASSES,
        "test_attributes": Option(True, help="class development test clips by the attributes "
                                             "in their names; false: like evaluation clips "
                                             "(section's most frequent attributes)"),
    }


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
    "attribute_classes": _ATTRIBUTE_CLASSES,
}
# Like the synthetic set's default: a logmel/tfstgram run of a few CPU minutes.
SHIFT_EPOCHS = 6
