"""The official archives of DCASE Task 2 2021-2026, for ``asdbench data fetch dcase<YEAR>``.

Source: the organisers' download scripts ``tools/data_download_<YEAR>.sh`` of
nttcslab/dcase2023_task2_baseline_ae (Zenodo records below, per edition: development,
additional training and evaluation test data). The scripts give no md5 sums. 2026: the
scripts ``data_download_2026dev.sh`` (record 19336329; ToyCar's archive is
``dev_ToyCar_r2.zip``) and ``data_download_2026add.sh`` (record 20151556) at the repository's
root, commit 9b64dc4 (2026-05-18), and ``datasets/download_path_2026.yaml`` there; no
evaluation test archive was published by then, so ``data fetch dcase2026`` gets the
development and additional training data only.

md5 sums (``MD5``): 2023 only, the Zenodo records' per-file md5 as copied into
soundata/soundata ``soundata/datasets/dcase23_task2.py`` (commit b1ede7e2, its ``REMOTES``
for records 7882613, 7830345 and 7860847; soundata refuses a download whose md5 differs).
For 2021, 2022, 2024 and 2025 no md5 with a named source was found, so none is written
(the size the server announces is checked, and the zip CRCs on unpacking). No byte sizes
are written for any edition.

Layout after ``--to DIR``: ``DIR/dev_data/<type>/...`` and ``DIR/eval_data/<type>/...``, as
the scripts unzip them (without their ``raw/`` level): ``data.root=DIR`` finds both; with
one root for every edition, fetch into ``<root>/dcase<YEAR>t2``. Files are never renamed
(the evaluation labels come from the shipped official lists).
"""

from __future__ import annotations

from typing import Any

from asdbench_dcase_editions.editions import EDITIONS

SOURCE = "nttcslab/dcase2023_task2_baseline_ae tools/data_download_{year}.sh"
MD5_SOURCE = "md5: the Zenodo record via soundata/soundata soundata/datasets/dcase23_task2.py @b1ede7e2"
# year -> file name -> md5 (the file names repeat across years: 2023-2025 dev archives are
# all dev_<type>.zip, in different records, so a sum belongs to its year only)
MD5: dict[int, dict[str, str]] = {
    2023: {
        "dev_bearing.zip": "8a813bc8d8f156b5395bfccdfac7673c",
        "dev_fan.zip": "9348591e96fb0ad499a1e33b082562fc",
        "dev_gearbox.zip": "b6e55f6a31faa0fc8569ec0afdd53ccf",
        "dev_slider.zip": "b3f8dee36b4718c36d659a4fd1c4afe0",
        "dev_ToyCar.zip": "4e3bf15f4101ed4ed4f1fecde2e2b2a3",
        "dev_ToyTrain.zip": "6b02a6c65eebb3b8b1ae59a6b25bb897",
        "dev_valve.zip": "b2051a2022eadb53cd97581120811cae",
        "eval_data_bandsaw_train.zip": "9274dfe63de028743823f1123f8b4b47",
        "eval_data_grinder_train.zip": "17569c1f9df23621a0dbabc430684a35",
        "eval_data_shaker_train.zip": "35f821b5645b731fb5a1750e33b95fc3",
        "eval_data_ToyDrone_train.zip": "7fea367d1384a1521ae24f72203238de",
        "eval_data_ToyNscale_train.zip": "9332822f3e47afd984c01f2ecb5ca3af",
        "eval_data_ToyTank_train.zip": "b1fd3ab7de7561290df2d477de1c9d33",
        "eval_data_Vacuum_train.zip": "1c8de33d9a8c7850a1f7aaddb97d87be",
        "eval_data_bandsaw_test.zip": "2a8e8f39f6584ab366a8f4da52d4d7a6",
        "eval_data_grinder_test.zip": "631b3e1608b6077772829a6e68c82c77",
        "eval_data_shaker_test.zip": "ba98c98caa96051ec80e24e44b8fca56",
        "eval_data_ToyDrone_test.zip": "fdae7b8d1f4cadb2bea88bc93e2367db",
        "eval_data_ToyNscale_test.zip": "62f5f5043d8fb3a305b1c2e1025872de",
        "eval_data_ToyTank_test.zip": "f5639bf58c47169c622751f19c6fc321",
        "eval_data_Vacuum_test.zip": "a32524fd8c45b574a560685b38acc4e1",
    },
}
# year -> (dev record, dev name, additional record, additional name, eval record, eval name)
_RECORDS: dict[int, tuple[str, str, str, str, str, str]] = {
    2021: ("record/4562016", "dev_data_{t}.zip", "record/4660992", "eval_data_{t}_train.zip",
           "record/4884786", "eval_data_{t}_test.zip"),
    2022: ("record/6355122", "dev_{t}.zip", "record/6462969", "eval_data_{t}_train.zip",
           "record/6586456", "eval_data_{t}_test.zip"),
    2023: ("record/7882613", "dev_{t}.zip", "record/7830345", "eval_data_{t}_train.zip",
           "record/7860847", "eval_data_{t}_test.zip"),
    2024: ("record/10902294", "dev_{t}.zip", "records/11259435", "eval_data_{t}.zip",
           "records/11363076", "eval_data_{t}_test.zip"),
    2025: ("records/15097779", "dev_{t}.zip", "records/15392814", "eval_data_{t}_train.zip",
           "records/15519362", "eval_data_{t}_test.zip"),
    2026: ("records/19336329", "dev_{t}.zip", "records/20151556", "eval_data_{t}_train.zip",
           "", ""),  # no evaluation test archive published
}
SOURCES = {2026: "nttcslab/dcase2023_task2_baseline_ae data_download_2026dev.sh, "
                 "data_download_2026add.sh @9b64dc4"}
# 2026's ToyCar development archive is the re-released one (r2)
_DEV_NAMES = {2026: {"ToyCar": "ToyCar_r2"}}
# 2024's additional training archives carry a suffix of their own (r2: the re-released ones)
_TRAIN_2024 = {"3DPrinter": "3DPrinter_train_r2", "RoboticArm": "RoboticArm_train_r2"}


def _additional_name(year: int, machine_type: str) -> str:
    if year == 2024:
        return _TRAIN_2024.get(machine_type, f"{machine_type}_train")
    return machine_type


def archives(year: int) -> list[dict[str, Any]]:
    """Every archive of one edition: development data of its development types, additional
    training and evaluation test data of its evaluation types."""
    edition = EDITIONS[year]
    dev_rec, dev_name, add_rec, add_name, ev_rec, ev_name = _RECORDS[year]
    source = SOURCES.get(year) or SOURCE.format(year=year)

    sums = MD5.get(year, {})

    def entry(record: str, name: str, folder: str, part: str, t: str) -> dict[str, Any]:
        md5 = sums.get(name)
        return {"url": f"https://zenodo.org/{record}/files/{name}", "folder": folder,
                "part": part, "machine_type": t, "md5": md5,
                "source": f"{source}; {MD5_SOURCE}" if md5 else source}

    renamed = _DEV_NAMES.get(year, {})
    out = [entry(dev_rec, dev_name.format(t=renamed.get(t, t)), "dev_data", "dev", t)
           for t in edition.dev_types]
    for t in edition.eval_types:
        out.append(entry(add_rec, add_name.format(t=_additional_name(year, t)), "eval_data",
                         "additional", t))
        if ev_rec:
            out.append(entry(ev_rec, ev_name.format(t=t), "eval_data", "eval", t))
    return out
