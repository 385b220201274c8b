"""The official archives of DCASE 2020 Task 2, for ``asdbench data fetch dcase2020``.

Source: the organisers' download script ``tools/data_download_2020.sh`` of
nttcslab/dcase2023_task2_baseline_ae (the same Zenodo records as the 2020 baseline's
README): development data zenodo.org/record/3678171, additional training data
zenodo.org/record/3727685, evaluation test data zenodo.org/record/3841772. The records'
md5 sums are not in that script, so none is written here (sizes come from the server, the
zip CRCs are checked on unpacking).

Layout after ``--to DIR``: ``DIR/dev_data/<type>/{train,test}/`` (``data.root``) and
``DIR/eval_data/<type>/{train,test}/`` (``data.eval_root``), the files never renamed (the
evaluation labels come from the shipped official list).
"""

from __future__ import annotations

from typing import Any

from asdbench_datasets.options import DCASE2020_TYPES

SOURCE = "nttcslab/dcase2023_task2_baseline_ae tools/data_download_2020.sh"
_RECORDS = (  # (part, record, file name pattern, folder)
    ("dev", "3678171", "dev_data_{t}.zip", "dev_data"),
    ("additional", "3727685", "eval_data_train_{t}.zip", "eval_data"),
    ("eval", "3841772", "eval_data_test_{t}.zip", "eval_data"),
)


def archives() -> list[dict[str, Any]]:
    """Every archive: development, additional training and evaluation test data per type."""
    return [{"url": f"https://zenodo.org/record/{record}/files/{pattern.format(t=t)}",
             "folder": folder, "part": part, "machine_type": t, "source": SOURCE}
            for part, record, pattern, folder in _RECORDS for t in DCASE2020_TYPES]
