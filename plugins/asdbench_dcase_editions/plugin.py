"""Registers the DCASE 2021-2025 datasets and protocols (entry point ``dcase_editions``).

The dataset hook imports only the light option schemas (:mod:`asdbench_dcase_editions.options`)
and names each factory as a ``"module:function"`` string, which the registry imports on the first
``create``: loading the plugin and ``asdbench plugins`` import no numpy, torch or soundfile.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_dcase_editions.editions import EDITIONS, EPOCHS
from asdbench_dcase_editions.options import edition_options


@hookimpl
def asdbench_datasets() -> list[Component]:
    return [
        Component(
            edition.name, f"asdbench_dcase_editions.dataset:make_{edition.name}",
            edition_options(edition),
            f"DCASE {year} Task 2 ({edition.title}): development set (root) + additional "
            f"training and evaluation sets (eval_root); score '{edition.protocol}'",
            train_defaults={"train.epochs": EPOCHS},
        )
        for year, edition in EDITIONS.items()
    ]


@hookimpl
def asdbench_protocols() -> list:
    """The official scores of DCASE 2021 and 2022-2025 (``dcase2021``, ``dcase2022``)."""
    from asdbench_dcase_editions.protocols import PROTOCOLS

    return list(PROTOCOLS)
