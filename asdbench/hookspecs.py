"""The asdbench plugin API: every hook a plugin may implement.

A plugin is a module (or object) with functions decorated by ``asdbench.hookimpl`` whose names
match the hooks below, registered through the ``asdbench`` entry-point group::

    [project.entry-points.asdbench]
    myplugin = "my_package.plugin"

The shipped plugins (``plugins/asdbench_*``) are registered exactly this way.

Component hooks (``asdbench_datasets`` ... ``asdbench_scorers``) take no arguments and return a
list of :class:`asdbench.sdk.Component`. The registry attributes each component to the
package that provides it, refuses a name provided twice (naming both packages), looks names
up with "did you mean" suggestions and resolves a component's ``aliases`` (a former name;
``deprecated_aliases`` warn once). A component's ``options`` dict declares every setting it
accepts: a plain default (bool/int/float defaults are type-checked) or an
:class:`asdbench.sdk.Option` with type, range, choices and help text; users override them as
``--set <kind>.<option>=value`` where ``kind`` is ``data``, ``frontend``, ``backbone``,
``method`` or ``scorer``. An unknown key or a value outside its schema is a one-line error.
Each component's ``factory`` receives the resolved options (a plain dict without the prefix,
values as given) plus the keyword arguments listed in its hook's docstring. The protocols of
what factories return are in :mod:`asdbench.sdk.protocols`; :mod:`asdbench.testing` checks them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdbench.meta import hookspec

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from asdbench.leaderboard.tables import TableKind
    from asdbench.metrics.protocols import MetricProtocol
    from asdbench.registry import Component


# --- components --------------------------------------------------------------------------


@hookspec
def asdbench_datasets() -> list[Component]:
    """Register datasets.

    ``factory(options) -> dataset`` where ``dataset`` has:

    - ``name: str`` and ``audio: asdbench.data.AudioSpec`` (the rate and clip length clips are
      brought to; a dataset may take them from its options),
    - ``clips() -> list[asdbench.data.Clip]``: every train clip (normal only) and test clip
      (labelled; ``label=None`` where the truth is unknown). Classes are the sorted distinct
      ``Clip.class_key`` of the train clips,
    - ``report: asdbench.data.DataReport``: problems found while listing (missing files, ...),
    - ``protocols: tuple[str, ...]``: the metric protocols (``asdbench_protocols``) its results
      are reported under (the first is the official one), e.g. ``("dcase2020", "pooled")``.

    Conventional options: ``root`` (``--data-root``), ``types`` (comma-separated machine types).

    Optionally the factory carries ``archives() -> list[dict]``: the dataset's official
    archives for ``asdbench data fetch`` (:mod:`asdbench.fetch`), each ``{"url", "folder"
    (where it unpacks, relative to --to), "part", "machine_type", "size", "md5", "source"}``
    (only ``url`` and ``folder`` required; ``size``/``md5`` where the publisher gives them).
    """


@hookspec
def asdbench_frontends() -> list[Component]:
    """Register input-feature frontends.

    ``factory(options, audio: AudioSpec) -> torch.nn.Module`` with:

    - ``out_shape: tuple[int, int, int]``: (channels, frequency bins, frames) of its output,
    - ``features(wave: Tensor[B, L]) -> Tensor[B, F, T]``: the fixed, parameter-free part
      (e.g. log-Mel). The engine computes it once per clip and caches it; mixup mixes it
      directly (as the authors' code does),
    - ``feature_key: str``: a string that changes whenever ``features`` would change (cache key),
    - ``forward(wave: Tensor[B, L], feats: Tensor[B, F, T]) -> Tensor[B, C, F, T]``,
    - optionally ``traits: frozenset[str]``: what it stacks (e.g. ``{asdbench.sdk.LOG_MEL}``),
      passed to methods for per-input defaults.

    Learnable parts (e.g. Tgram) live in the module and train with the backbone. A parameter
    carrying ``lr_scale`` (a float) trains at ``train.lr`` times it (a pretrained encoder's).
    """


@hookspec
def asdbench_backbones() -> list[Component]:
    """Register embedding networks.

    ``factory(options, in_shape: tuple[int, int, int]) -> torch.nn.Module`` mapping
    ``Tensor[B, C, F, T]`` to ``Tensor[B, D]``; the module has ``embedding_dim: int`` (= D).
    Sizes must derive from ``in_shape`` (no literal frame counts). A backbone may keep the
    frames (``frames``: ``D = C·F·T``, the input flattened) for frame-level methods.
    """


@hookspec
def asdbench_methods() -> list[Component]:
    """Register training methods (objective + head).

    ``factory(options, num_classes: int, embedding_dim: int,
    frontend_info: asdbench.sdk.FrontendInfo) -> torch.nn.Module`` (``frontend_info``: the
    frontend's declared ``out_shape`` and ``traits``, for per-input defaults) with:

    - ``mixup_alpha: float | None``: when set (not None or 0), the engine mixes each batch
      (λ ~ Beta(α, α) once per batch, one permutation for waveforms and features,
      ``y_b = y[perm]``),
    - ``loss(z, y_a, y_b, lam) -> (loss, logits)``: training loss on backbone embeddings ``z``
      (``y_b``/``lam`` are ``y_a``/1.0 when not mixing); ``logits`` feed the accuracy display
      (None for a method without class logits: the accuracy is then NaN),
    - ``embed(z) -> Tensor[B, E]``: the head's embedding used by scorers,
    - ``logits(e, labels) -> Tensor[B, K]``: class logits as used for the anomaly score.

    Optional seams:

    - ``class_names``: a factory with a keyword parameter of that name also receives the run's
      classes in label order (``"<type>/<id>"``, ``Clip.class_key``), or None where they are
      unknown (``asdbench describe`` sizes a model by its class count alone). A method that
      keeps one network per machine type groups the classes by it (``dcase2020-ae``); with
      None it builds one network (one type's model).
    - ``own_score = True``: the method scores clips itself (e.g. reconstruction error, no
      class labels needed beyond routing). ``logits(e, labels)`` then returns anomaly scores:
      column ``k`` is the clip's score as a clip of class ``k`` (higher = more anomalous),
      which the scorer ``method`` reads at the clip's own class (and exports as is).
      Validation selects on the mean own-class score instead of cross-entropy; a scorer
      declaring ``needs_own_score`` refuses a method without ``own_score``.
    - ``fit_train(batches)``: after training (and selection) the engine passes the training
      clips (without the validation ones) once, in eval mode and without gradients, as
      ``(z, labels, domains)`` batches (backbone outputs, class indices, ``numpy`` array of
      domain strings); the method keeps what it fits as buffers, saved with its model
      (``dcase-ae``: the error covariances of the source and the target domain).
    - ``trains = False`` (or no trainable parameter in the model): the engine skips training
      and evaluates the model as built (a non-learned reference such as ``gaussian``, which
      takes its statistics from the scorer's fit on the training clips).
    - A factory raises :class:`asdbench.sdk.IncompatibleComponents` when its backbone or
      frontend cannot feed it (a frame-level method behind a pooling backbone): the user
      gets its message, the registry-driven checks skip the combination.
    - Training recipes (epochs, batch, optimiser settings, no EMA, ...) are the component's
      ``recipes`` presets (:mod:`asdbench.recipes`); ``train_defaults`` may suggest its
      scorer (``{"scorer": "method"}``).

    All its parameters belong to the inference model (they are counted by ``describe``).
    """


@hookspec
def asdbench_scorers() -> list[Component]:
    """Register anomaly scorers.

    ``factory(options) -> scorer`` with ``fit(train: asdbench.scoring.ScoringInputs) -> None``
    and ``score(test: ScoringInputs) -> numpy.ndarray[N]`` (higher = more anomalous).

    Optional, for ``asdbench export``: ``to_torch(head: torch.nn.Module, num_classes: int)
    -> torch.nn.Module``, called on a scorer fitted on the run's saved train inputs. ``head``
    is the run's method module (``head.logits(e, labels)``, in eval mode). The returned
    module maps the method's embeddings ``Tensor[B, E]`` (float32, ``head.embed`` output) to
    ``Tensor[B, num_classes]``: column ``k`` is what ``score`` gives the clip as a clip of
    class ``k`` (the deployed model does not know a clip's class). Keep the fitted state as
    buffers or submodules, use torch ops that ``torch.jit.trace`` and ``torch.onnx.export``
    handle, create no tensor on a fixed device in ``forward``, and accept any batch size.
    A scorer without ``to_torch`` cannot be exported (a one-line error naming it).

    Optional, for decision thresholds: ``score_train(train: ScoringInputs) ->
    numpy.ndarray[N]``, the training clips' scores as if each were held out (a k-NN scorer
    leaves a clip out of its own reference). Thresholds are fitted on it when present, on
    ``score(train)`` otherwise (``asdbench.metrics.decision.training_scores``).
    """


# --- extension points ----------------------------------------------------------------------


@hookspec
def asdbench_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``asdbench`` command-line interface (``cli.add_command(...)``)."""


@hookspec
def asdbench_reference_results() -> list[dict]:
    """Return published results that leaderboards can show beside measured ones.

    Each dict: ``source`` (e.g. "OS-SCL paper, Table II"), ``table`` (e.g. "table2"),
    ``method``, ``frontend``, ``backbone``, ``dataset``, ``protocol``, ``metrics`` (a dict such
    as ``{"fan": {"auc": 0.9841, "pauc": 0.9450}, "average": {...}}``, fractions in [0, 1]) and
    optionally ``settings`` (non-default options, e.g. ``{"method.fph_reduction": 32}``) and
    ``set`` (the test set the numbers are from, ``dev`` when absent: they join only the
    leaderboard tables of that set).
    """


@hookspec
def asdbench_protocols() -> list[MetricProtocol]:
    """Register metric protocols (how per-clip scores become reported numbers).

    Each :class:`asdbench.metrics.protocols.MetricProtocol` has a ``name`` (e.g.
    ``dcase2021``), a ``description``, the score-table ``columns`` it reads beyond
    ``machine_type, machine_id, label, score``, the ``domains`` every labelled clip must have
    (or None), its edition's ``submission_layout`` (``id``, ``section``, ``section_domain``)
    and ``compute(df) -> dict``: ``df`` holds the run's labelled clips, validated
    (``machine_id``/``domain`` strings, ``label`` 0/1, finite ``score``); it returns
    ``{"average": {"auc", "pauc", "mauc", "official", ...}, "types": {...}, "ids": {...},
    "skipped": [...]}`` (``asdbench.metrics.core.summary`` builds it; fractions or None).

    The core registers ``dcase2020`` and ``pooled`` (its plugin ``asdbench-metrics``). A
    dataset lists the protocols it is reported under in its ``protocols`` attribute (the first
    is the official one); every protocol it lists appears under ``protocols`` in the run's
    ``metrics.json``. A name registered twice is an error naming both packages; a name no
    plugin registers is an error naming the dataset and the protocols there are.
    """


@hookspec
def asdbench_tables() -> list[TableKind]:
    """Register leaderboard table kinds (``asdbench leaderboard --table NAME``).

    Each :class:`asdbench.leaderboard.tables.TableKind` has a ``name`` and ``description``,
    the metrics shown per machine type (``metrics``), per machine ID (``id_metrics``) and
    averaged (``average``), ``rank_by`` (metric columns in order of preference, e.g.
    ``("average.official", "average.auc")``), a default ``protocol`` (None: each dataset's
    official one), ``where`` (identity column -> allowed values: which runs are rows),
    ``type_order`` (machine types shown first) and ``default`` (offered as the default
    ``--table``; used when exactly one kind offers itself, else the core's ``types``).
    Published rows (``asdbench_reference_results``) appear in the kind named by their
    ``table`` key. The core registers ``types`` (per machine type AUC and pAUC); a name
    registered twice is an error naming both packages.
    """


# --- lifecycle (trackers, loggers) ---------------------------------------------------------


@hookspec
def asdbench_run_started(config: dict, run_dir: Path) -> None:
    """A run begins training (also when resumed). ``config`` is the flat resolved config."""


@hookspec
def asdbench_epoch_end(run_dir: Path, record: dict) -> None:
    """An epoch ended; ``record`` is the line just written to ``train_log.jsonl``."""


@hookspec
def asdbench_run_finished(run_dir: Path, metrics: dict) -> None:
    """A run finished; ``metrics`` is what was written to ``metrics.json``."""
