"""Tracks: the runs a leaderboard may rank together, those evaluated on the same data.

A track is a dataset with every data setting that changes its clips (``data.*``; folders only
by whether one is given) and a metric protocol: ``synthetic·3fa2c1`` under ``dcase2020``. A
table ranks within one track; published rows join the track of their dataset and protocol
whose data settings are the dataset's defaults (the published numbers are on the official
data), else they form a track of their own, with a note saying why no run is beside them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from asdbench.leaderboard.collect import MEASURED, short

if TYPE_CHECKING:
    import pandas as pd

PUBLISHED = "published"


def _reference_note(refs_dataset: str, protocol: str, measured: pd.DataFrame) -> str:
    """Why published rows of ``refs_dataset`` under ``protocol`` have no measured row beside
    them."""
    same = measured[measured["dataset"] == refs_dataset] if not measured.empty else measured
    if same.empty:
        return f"no run of {refs_dataset} here: published numbers only"
    if protocol not in set(same["protocol"]):
        have = ", ".join(sorted(set(same["protocol"])))
        return (f"the runs of {refs_dataset} here are scored under {have}; --protocol "
                f"{protocol} ranks them beside these published numbers")
    return f"no run of {refs_dataset} with its default data settings here"


def place_references(refs: pd.DataFrame, measured: pd.DataFrame
                     ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Published rows with their ``track`` set, and a note per reference-only track.

    A row joins each measured track of its dataset and protocol without non-default data
    settings; otherwise it goes to ``<dataset>·published``.
    """
    import pandas as pd

    if refs.empty:
        return refs, {}
    rows, notes = [], {}
    default = (measured[measured["data"] == ""][["dataset", "protocol", "track"]]
               .drop_duplicates() if not measured.empty else pd.DataFrame())
    for _, ref in refs.iterrows():
        tracks = ([] if default.empty else default[(default["dataset"] == ref["dataset"])
                                                   & (default["protocol"] == ref["protocol"])]
                  ["track"].tolist())
        if not tracks:
            tracks = [f"{ref['dataset']}·{PUBLISHED}"]
            note = _reference_note(ref["dataset"], ref["protocol"], measured)
            notes[f"{tracks[0]}|{ref['protocol']}"] = note
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


def track_order(data: pd.DataFrame) -> list[tuple[str, str]]:
    """(track, protocol) pairs: measured ones by dataset, most runs first, then the
    reference-only ones."""
    measured = data[data["source"] == MEASURED]
    sizes = measured.groupby(["track", "protocol"], sort=False).size()
    first = sorted(sizes.index, key=lambda k: (str(k[0]).split("·")[0], -int(sizes[k]), k))
    rest = sorted({(t, p) for t, p in zip(data["track"], data["protocol"], strict=True)}
                  - set(first), key=lambda k: (str(k[0]), str(k[1])))
    return list(first) + rest


def title(track: str, protocol: str | None, differing: str) -> str:
    """A track's table title: its name, the data settings that set it apart, its protocol."""
    text = f"track {track}" + (f" ({differing})" if differing else "")
    return text + (f" · protocol {protocol}" if protocol else "")
