"""The asdbench plugin API: every hook a plugin may implement.

A plugin is a module with functions marked ``@asdbench.hookimpl``, registered through the
``asdbench`` entry-point group (``[project.entry-points.asdbench] name = "pkg.plugin"``), as
the shipped plugins are. The contract of what the hooks return lives in the SDK:
:class:`asdbench.sdk.Component` (names, options, factories), :mod:`asdbench.sdk.protocols`
(what factories build, and the optional seams), :class:`asdbench.sdk.MetricProtocol`,
:class:`asdbench.sdk.TableKind`.
:mod:`asdbench.testing` checks a plugin against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdbench.meta import hookspec

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from asdbench.registry import Component
    from asdbench.sdk.metric_protocols import MetricProtocol
    from asdbench.sdk.tables import TableKind


# --- components: each returns Components whose factory builds the protocol named ------------


@hookspec
def asdbench_datasets() -> list[Component]:
    """Register datasets: ``factory(options) -> sdk.Dataset`` (seam: ``archives``)."""


@hookspec
def asdbench_frontends() -> list[Component]:
    """Register input-feature frontends: ``factory(options, audio) -> sdk.Frontend`` (seams:
    ``traits``, ``lr_scale`` on a parameter)."""


@hookspec
def asdbench_backbones() -> list[Component]:
    """Register embedding networks: ``factory(options, in_shape) -> sdk.Backbone``; sizes
    derive from ``in_shape``."""


@hookspec
def asdbench_methods() -> list[Component]:
    """Register training methods: ``factory(options, num_classes, embedding_dim,
    frontend_info) -> sdk.Method`` (seams: ``class_names``, ``own_score``, ``fit_train``,
    ``trains``, ``stages``, ``eval_margin``, ``recipes``)."""


@hookspec
def asdbench_scorers() -> list[Component]:
    """Register anomaly scorers: ``factory(options) -> sdk.Scorer`` (seams: ``to_torch``,
    ``score_train``, ``needs_own_score``)."""


# --- extension points ----------------------------------------------------------------------


@hookspec
def asdbench_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``asdbench`` command line (``cli.add_command(...)``)."""


@hookspec
def asdbench_reference_results() -> list[dict]:
    """Return published results shown beside measured ones (``--reference paper``).

    Each dict: ``source``, ``table``, ``method``, ``frontend``, ``backbone``, ``dataset``,
    ``protocol``, ``metrics`` (``{"fan": {"auc": 0.98, ...}, "average": {...}}``, fractions),
    optionally ``settings`` and ``set`` (``dev`` when absent).
    """


@hookspec
def asdbench_protocols() -> list[MetricProtocol]:
    """Register metric protocols (``sdk.MetricProtocol``): how per-clip scores become the
    reported numbers. A dataset names the protocols it is reported under."""


@hookspec
def asdbench_tables() -> list[TableKind]:
    """Register leaderboard table kinds (``sdk.TableKind``, ``--table NAME``)."""


@hookspec
def asdbench_check_run(config: dict) -> None:
    """Check a resolved run before any data is decoded (``config``: the flat resolved
    config); raise ``AsdbenchError`` with one line to stop it (e.g. a missing checkpoint)."""


# --- lifecycle (trackers, loggers): a hook that raises is warned about, the run goes on -----


@hookspec
def asdbench_run_started(config: dict, run_dir: Path) -> None:
    """A run begins training (also when resumed); ``config`` is the flat resolved config."""


@hookspec
def asdbench_epoch_end(run_dir: Path, record: dict) -> None:
    """An epoch ended; ``record`` is the line just written to ``train_log.jsonl``."""


@hookspec
def asdbench_run_finished(run_dir: Path, metrics: dict) -> None:
    """A run finished; ``metrics`` is what was written to ``metrics.json``."""
