"""The official archives of DCASE 2020 Task 2, for ``asdbench data fetch dcase2020``.

Source of the URLs: the organisers' download script ``tools/data_download_2020.sh`` of
nttcslab/dcase2023_task2_baseline_ae (the same Zenodo records as the 2020 baseline's
README): development data zenodo.org/record/3678171, additional training data
zenodo.org/record/3727685, evaluation test data zenodo.org/record/3841772.

Source of the md5 sums (that script has none): the Zenodo records' per-file md5, as copied
into soundata/soundata ``soundata/datasets/dcase2020task2.py`` (commit 58c7e120, its
``REMOTES``; soundata refuses a download whose md5 differs). Those of dev fan, pump and
slider agree with a second public copy of the record's API listing. No byte sizes are
written (none found with a named source): the size the server announces is checked, and
the zip CRCs on unpacking.

Layout after ``--to DIR``: ``DIR/dev_data/<type>/{train,test}/`` (``data.root``) and
``DIR/eval_data/<type>/{train,test}/`` (``data.eval_root``), the files never renamed (the
evaluation labels come from the shipped official list).
"""

from __future__ import annotations

from typing import Any

from asdbench_datasets.options import DCASE2020_TYPES

SOURCE = ("URL: nttcslab/dcase2023_task2_baseline_ae tools/data_download_2020.sh; md5: the "
          "Zenodo record via soundata/soundata soundata/datasets/dcase2020task2.py @58c7e120")
_RECORDS = (  # (part, record, file name pattern, folder)
    ("dev", "3678171", "dev_data_{t}.zip", "dev_data"),
    ("additional", "3727685", "eval_data_train_{t}.zip", "eval_data"),
    ("eval", "3841772", "eval_data_test_{t}.zip", "eval_data"),
)
# file name -> md5 (source: the module docstring)
MD5: dict[str, str] = {
    "dev_data_fan.zip": "649bdfc06263ae7a838963f43b6641e6",
    "dev_data_pump.zip": "90e7091ef722b7238a7f1009365779cd",
    "dev_data_slider.zip": "da24a757719f0d94d5aa2d646bbfdc86",
    "dev_data_ToyCar.zip": "4dec75ca8d9f666aa9e4c1894a740501",
    "dev_data_ToyConveyor.zip": "03b6aa1bfd09a39d53af0ba39f71fa91",
    "dev_data_valve.zip": "34d2672f55bb041589ef79c10dc89934",
    "eval_data_train_fan.zip": "567798854130c8019df8b664c095ed1e",
    "eval_data_train_pump.zip": "4e33ae9c0db5cc88437675f5e317caee",
    "eval_data_train_slider.zip": "f84f186f4295fc23754abcdd1b0580a7",
    "eval_data_train_ToyCar.zip": "a5d4ccd498af70b04dd74b644b820006",
    "eval_data_train_ToyConveyor.zip": "0e808ac0b761e9fb13d5e0c65caff00d",
    "eval_data_train_valve.zip": "057cdd560caffb8305449541afd28c6d",
    "eval_data_test_fan.zip": "1eb9356a768cadfd0f2e59a5c57e578b",
    "eval_data_test_pump.zip": "23a8f8f924be218c69df67fe07360348",
    "eval_data_test_slider.zip": "0193c769073840332ce3aad84b1ccaa2",
    "eval_data_test_ToyCar.zip": "bea2bdd612f616be8f2b8eb087b32c7c",
    "eval_data_test_ToyConveyor.zip": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2",
    "eval_data_test_valve.zip": "f69c551d2088691050d20cccca9d631c",
}


def archives() -> list[dict[str, Any]]:
    """Every archive: development, additional training and evaluation test data per type."""
    out = []
    for part, record, pattern, folder in _RECORDS:
        for t in DCASE2020_TYPES:
            name = pattern.format(t=t)
            out.append({"url": f"https://zenodo.org/record/{record}/files/{name}",
                        "folder": folder, "part": part, "machine_type": t,
                        "md5": MD5.get(name), "source": SOURCE})
    return out
