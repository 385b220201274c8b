"""Tracks: the runs a leaderboard may rank together, those evaluated on the same data.

A track is a dataset with every data setting that changes its clips (``data.*``; folders only
by whether one is given): ``synthetic·3fa2c1``. A table ranks the rows of one track, one test
set (``dev``, ``eval``: the development and the evaluation set are never ranked together) and
one metric protocol. Published rows join the track of their dataset, set and protocol whose
data settings are the dataset's defaults (the published numbers are on the official data),
else they form a track of their own, with a note saying why no run is beside them. Runs that
chose their checkpoint on test labels (``train.select = "test"``) form tracks of their own
(``…·selected-on-test``), ranked apart from every other row.
"""

from __future__ import annotations

import json

import pandas as pd

from asdbench.leaderboard.collect import MEASURED, SELECTED_ON_TEST, set_key, short

PUBLISHED = "published"


def _reference_note(refs_dataset: str, test_set: str, protocol: str,
                    measured: pd.DataFrame) -> str:
    """Why published rows of ``refs_dataset``'s set ``test_set`` under ``protocol`` have no
    measured row beside them."""
    same = measured[measured["dataset"] == refs_dataset] if not measured.empty else measured
    if same.empty:
        return f"no run of {refs_dataset} here: published numbers only"
    if test_set not in set(same["set"]):
        have = ", ".join(sorted(set(same["set"]), key=set_key))
        return (f"the runs of {refs_dataset} here are evaluated on set {have}, these published "
                f"numbers on set {test_set}")
    if protocol not in set(same["protocol"]):
        have = ", ".join(sorted(set(same["protocol"])))
        return (f"the runs of {refs_dataset} here are scored under {have}; --protocol "
                f"{protocol} ranks them beside these published numbers")
    return f"no run of {refs_dataset} with its default data settings here"


def place_references(refs: pd.DataFrame, measured: pd.DataFrame
                     ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Published rows with their ``track`` set, and a note per reference-only table (keyed
    :func:`table_key`).

    A row joins each measured track of its dataset, set and protocol without non-default data
    settings; otherwise it goes to ``<dataset>·published``.
    """
    if refs.empty:
        return refs, {}
    rows, notes = [], {}
    # never beside runs selected on test labels: their track is theirs alone
    default = (measured[(measured["data"] == "")
                        & ~measured["track"].astype(str).str.endswith(SELECTED_ON_TEST)]
               [["dataset", "set", "protocol", "track"]].drop_duplicates()
               if not measured.empty else pd.DataFrame())
    for _, ref in refs.iterrows():
        tracks = ([] if default.empty else default[(default["dataset"] == ref["dataset"])
                                                   & (default["set"] == ref["set"])
                                                   & (default["protocol"] == ref["protocol"])]
                  ["track"].tolist())
        if not tracks:
            tracks = [f"{ref['dataset']}·{PUBLISHED}"]
            note = _reference_note(ref["dataset"], ref["set"], ref["protocol"], measured)
            notes[table_key(tracks[0], ref["set"], ref["protocol"])] = note
        rows += [ref.to_dict() | {"track": track} for track in tracks]
    return pd.DataFrame(rows, columns=refs.columns), notes


def differing_data(data_configs: dict[str, str]) -> dict[str, str]:
    """Per track, ``key=value`` of the data settings that differ between the tracks of one
    dataset (empty for a dataset with one track); ``data_configs``: track -> JSON config."""
    configs = {t: json.loads(c) for t, c in data_configs.items() if c}
    out = dict.fromkeys(data_configs, "")
    by_dataset: dict[str, list[str]] = {}
    for track, cfg in configs.items():
        by_dataset.setdefault(str(cfg.get("dataset")), []).append(track)
    for tracks in by_dataset.values():
        if len(tracks) < 2:
            continue
        keys = sorted({k for t in tracks for k in configs[t]})
        differ = [k for k in keys
                  if len({json.dumps(configs[t].get(k), default=str) for t in tracks}) > 1]
        for t in tracks:
            out[t] = ", ".join(f"{k.removeprefix('data.')}={short(configs[t].get(k))}"
                               for k in differ)
    return out


TABLE = ["track", "set", "protocol"]  # what one table holds: one track, set and protocol


def table_key(track: str, test_set: str, protocol: str) -> str:
    return f"{track}|{test_set}|{protocol}"


def track_order(data: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(track, set, protocol) of each table: measured ones by dataset, most runs first (a
    track's sets together, ``dev`` first), then the reference-only ones."""
    measured = data[data["source"] == MEASURED]
    sizes = measured.groupby(TABLE, sort=False).size()
    largest: dict[str, int] = {}  # a track's largest table
    for (track, _, _), n in sizes.items():
        largest[track] = max(largest.get(track, 0), int(n))
    first = sorted(sizes.index, key=lambda k: (str(k[0]).split("·")[0], -largest[k[0]],
                                               str(k[0]), set_key(k[1]), -int(sizes[k]),
                                               str(k[2])))
    rest = sorted(set(zip(data["track"], data["set"], data["protocol"], strict=True))
                  - set(first), key=lambda k: (str(k[0]), set_key(k[1]), str(k[2])))
    return list(first) + rest


def title(track: str, test_set: str, protocol: str | None, differing: str) -> str:
    """A table's title: its track, the data settings that set it apart, its test set and
    protocol."""
    text = f"track {track}" + (f" ({differing})" if differing else "") + f" · set {test_set}"
    return text + (f" · protocol {protocol}" if protocol else "")
