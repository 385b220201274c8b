"""The option schemas of the DCASE 2021-2025 datasets (one owner: the hooks and the dataset
modules both read them from here).

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
