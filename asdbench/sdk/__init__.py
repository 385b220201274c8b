"""The plugin SDK: everything a plugin package imports from asdbench.

A plugin needs ``from asdbench.sdk import ...``; nothing else of asdbench is a supported
import for plugins (besides :mod:`asdbench.sdk.metrics` for metric maths and
:mod:`asdbench.testing` for tests).

- registering: :data:`hookimpl`, :class:`Component` (aliases, option schemas),
  :class:`Option` (type, range, choices, help of one option);
- checking values by hand inside a factory: :func:`int_option`, :func:`float_option`,
  :func:`bool_option`, :func:`choice_option`; errors for the user: :class:`AsdbenchError`;
- the data model: :class:`AudioSpec`, :class:`Clip`, :class:`DataReport`, ``TRAIN``/``TEST``,
  ``NORMAL``/``ANOMALY``;
- what factories return: the protocols :class:`Dataset`, :class:`Frontend`,
  :class:`Backbone`, :class:`Method` (with :class:`Stage`, its training stages),
  :class:`Scorer`, and :class:`FrontendInfo` (what a
  method learns of its input; trait :data:`LOG_MEL`), :class:`IncompatibleComponents` (a
  factory's refusal of what it is combined with), :func:`has_own_score`;
- dataset building: :class:`ListedDataset`, :class:`GeneratedDataset`, :func:`write_wavs`,
  :func:`parse_types`, :func:`audio_spec`, :func:`audio_files`, :func:`subfolders`,
  :func:`id_from_name`, :func:`join`;
- the core's services: :func:`cache_dir`, :func:`progress`, :func:`atomic_dir`,
  :func:`is_complete`; resumable, checked downloads: :class:`Archive`, :func:`download`;
- scorers: :class:`ScoringInputs` and the maths :func:`l2_normalize`,
  :func:`cosine_similarity`, :func:`knn_cosine_distance`, :func:`cross_entropy`; metric
  protocols: :class:`MetricProtocol`, its submission ``LAYOUTS`` (and the maths to write one
  with, :mod:`asdbench.sdk.metrics`);
  leaderboard tables: :class:`TableKind`, ``OFFICIAL``; test-set names ``DEV``, ``EVAL``;
- the optional seams some components add (``own_score``, ``fit_train``, ...): the protocols
  of :data:`asdbench.sdk.protocols.SEAMS`.

Importing this package imports neither torch nor any plugin. Test a plugin with
:mod:`asdbench.testing`.
"""

from __future__ import annotations

import importlib
from typing import Any

from asdbench.data import ANOMALY, DEV, EVAL, NORMAL, TEST, TRAIN, AudioSpec, Clip, DataReport
from asdbench.errors import AsdbenchError
from asdbench.meta import hookimpl
from asdbench.options import (
    Option,
    OptionInfo,
    bool_option,
    choice_option,
    float_option,
    int_option,
    option_defaults,
)
from asdbench.registry import Component
from asdbench.sdk.datasets import (
    PROTOCOLS,
    GeneratedDataset,
    ListedDataset,
    audio_files,
    audio_spec,
    id_from_name,
    join,
    parse_types,
    subfolders,
    write_wavs,
)
from asdbench.sdk.helpers import atomic_dir, cache_dir, is_complete, progress
from asdbench.sdk.metric_protocols import LAYOUTS, MetricProtocol
from asdbench.sdk.protocols import (
    LOG_MEL,
    Backbone,
    Dataset,
    Frontend,
    FrontendInfo,
    IncompatibleComponents,
    Method,
    Scorer,
    Stage,
    has_own_score,
)
from asdbench.sdk.tables import OFFICIAL, TableKind

__all__ = [
    "hookimpl", "Component", "Option", "OptionInfo",
    "int_option", "float_option", "bool_option", "choice_option", "option_defaults",
    "AsdbenchError",
    "AudioSpec", "Clip", "DataReport", "TRAIN", "TEST", "NORMAL", "ANOMALY",
    "Dataset", "Frontend", "Backbone", "Method", "Stage", "Scorer", "FrontendInfo", "LOG_MEL",
    "IncompatibleComponents", "has_own_score",
    "ListedDataset", "GeneratedDataset", "write_wavs", "parse_types", "audio_spec",
    "audio_files", "subfolders", "id_from_name", "join", "PROTOCOLS",
    "cache_dir", "progress", "atomic_dir", "is_complete", "TableKind", "OFFICIAL",
    "DEV", "EVAL", "MetricProtocol", "LAYOUTS",
]

# Names whose modules are heavier (numpy, pandas): imported when a plugin first asks for them.
_LAZY = {
    "ScoringInputs": "asdbench.scoring", "l2_normalize": "asdbench.scoring",
    "cosine_similarity": "asdbench.scoring", "knn_cosine_distance": "asdbench.scoring",
    "cross_entropy": "asdbench.scoring",
    "Archive": "asdbench.fetch", "download": "asdbench.fetch",
}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asdbench.sdk' has no attribute {name!r}")
