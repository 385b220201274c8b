"""Registers the shipped datasets (entry point ``datasets`` of the ``asdbench`` group).

The hook imports only the light option schemas (:mod:`asdbench_datasets.options`) and names
each factory as a ``"module:function"`` string, which the registry imports on the first
``create``: loading the plugin and ``asdbench plugins`` import no numpy, torch or soundfile.
"""

from __future__ import annotations

from asdbench.sdk import Component, hookimpl
from asdbench_datasets import options

# The synthetic set and this short-run recipe are sized for the README's job (OS-SCL on TFSTgram
# + MobileFaceNet) in about 3 minutes on 2 idle CPU cores; why these sizes and what each
# measured: results/synthetic-calibration.md ("The default set's sizes"). The DCASE recipe is
# the paper's 300 epochs.
SYNTHETIC_EPOCHS = 6
# A few hundred steps instead of the paper's ~190,000: a larger learning rate, smaller batches,
# an EMA that warms up and BN statistics recomputed before validation (none of them in the
# paper; all recorded in the run's config and overridable with --set).
SYNTHETIC_TRAIN_DEFAULTS = {
    "train.epochs": SYNTHETIC_EPOCHS,
    "train.batch_size": 32,
    "train.lr": 3e-3,
    "train.ema_warmup": True,
    "train.bn_recalibrate": 8,
}


@hookimpl
def asdbench_datasets() -> list[Component]:
    return [
        Component(
            "synthetic", "asdbench_datasets.synthetic:make_synthetic",
            dict(options.SYNTHETIC_OPTIONS),
            "generated machine sounds with realistic faults, written once as WAVs into the "
            "cache (no download; the default)",
            train_defaults=SYNTHETIC_TRAIN_DEFAULTS,
        ),
        Component(
            "synthetic-shift", "asdbench_datasets.shift:make_synthetic_shift",
            dict(options.SHIFT_OPTIONS),
            "synthetic machine sounds with a DCASE 2022-style domain shift (few target-domain "
            "training clips at another speed and background); no download",
            train_defaults={"train.epochs": options.SHIFT_EPOCHS},
        ),
        Component(
            "dcase2020", "asdbench_datasets.dcase2020:make_dcase2020",
            dict(options.DCASE2020_OPTIONS),
            "DCASE 2020 Task 2 development set (root), optionally + evaluation set (eval_root)",
            train_defaults={"train.epochs": 300},
        ),
        Component(
            "folder", "asdbench_datasets.folder:make_folder", dict(options.FOLDER_OPTIONS),
            "your own recordings: <root>/<type>/train/*.wav, <root>/<type>/test/{normal,anomaly}/",
        ),
    ]
