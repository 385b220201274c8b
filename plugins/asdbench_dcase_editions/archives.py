"""The official archives of DCASE Task 2 2021-2025, for ``asdbench data fetch dcase<YEAR>``.

Source: the organisers' download scripts ``tools/data_download_<YEAR>.sh`` of
nttcslab/dcase2023_task2_baseline_ae (Zenodo records below, per edition: development,
additional training and evaluation test data). The scripts give no md5 sums, so none is
written here (sizes come from the server, the zip CRCs are checked on unpacking).

Layout after ``--to DIR``: ``DIR/dev_data/<type>/...`` and ``DIR/eval_data/<type>/...``, as
the scripts unzip them (without their ``raw/`` level): ``data.root=DIR`` finds both; with
one root for every edition, fetch into ``<root>/dcase<YEAR>t2``. Files are never renamed
(the evaluation labels come from the shipped official lists).
"""

from __future__ import annotations

from typing import Any

from asdbench_dcase_editions.editions import EDITIONS

SOURCE = "nttcslab/dcase2023_task2_baseline_ae tools/data_download_{year}.sh"
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
}
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
    source = SOURCE.format(year=year)

    def entry(record: str, name: str, folder: str, part: str, t: str) -> dict[str, Any]:
        return {"url": f"https://zenodo.org/{record}/files/{name}", "folder": folder,
                "part": part, "machine_type": t, "source": source}

    out = [entry(dev_rec, dev_name.format(t=t), "dev_data", "dev", t)
           for t in edition.dev_types]
    for t in edition.eval_types:
        out.append(entry(add_rec, add_name.format(t=_additional_name(year, t)), "eval_data",
                         "additional", t))
        out.append(entry(ev_rec, ev_name.format(t=t), "eval_data", "eval", t))
    return out
