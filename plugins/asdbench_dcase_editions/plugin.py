"""Registers the DCASE 2021-2025 datasets and ``synthetic-shift`` (entry point ``dcase_editions``).

The component modules (torch) are imported inside the hooks, so that loading the plugin
(``asdbench --help``) stays light.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl


@hookimpl
def asdbench_datasets() -> list[Component]:
    from asdbench_dcase_editions import shift
    from asdbench_dcase_editions.dataset import edition_options, make_edition
    from asdbench_dcase_editions.editions import EDITIONS, EPOCHS

    components = [
        Component(
            edition.name, make_edition(year), edition_options(edition),
            f"DCASE {year} Task 2 ({edition.title}): development set (root) + additional "
            f"training and evaluation sets (eval_root); score '{edition.protocol}'",
            train_defaults={"train.epochs": EPOCHS},
        )
        for year, edition in EDITIONS.items()
    ]
    components.append(Component(
        "synthetic-shift", shift.make_synthetic_shift, dict(shift.DEFAULTS),
        "synthetic machine sounds with a DCASE 2022-style domain shift (few target-domain "
        "training clips at another speed and background); no download",
        train_defaults={"train.epochs": shift.EPOCHS},
    ))
    return components


@hookimpl
def asdbench_protocols() -> list:
    """The official scores of DCASE 2021 and 2022-2025 (``dcase2021``, ``dcase2022``)."""
    from asdbench_dcase_editions.protocols import PROTOCOLS

    return list(PROTOCOLS)
