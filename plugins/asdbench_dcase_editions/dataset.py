"""Datasets ``dcase2021`` ... ``dcase2026``: each edition's released files, never renamed.

Layout of a set (the archives unzipped; the official baseline's ``raw/`` level is optional)::

    <dev>/<type>/train/section_XX_{source,target}_train_normal_NNNN[_<attr>].wav
    <dev>/<type>/test/section_XX_{source,target}_test_{normal,anomaly}_NNNN[_<attr>].wav
    <eval>/<type>/train/...   additional training data, named like the development train set
    <eval>/<type>/test/section_XX_NNNN.wav          evaluation test data (no label in the name)

2021 splits each test set into ``source_test/`` and ``target_test/`` (its evaluation names are
``section_XX_{source,target}_test_NNNN.wav``); both folder styles are read for every edition.
2025's ``supplemental/`` clips (clean machine or noise only) are not used. Evaluation labels
and domains come from the official lists shipped with this plugin (:mod:`.evallists`).

``data.root`` may be the development set itself (it holds the machine-type folders), a folder
holding ``dev_data/`` (and ``eval_data/``), or a folder holding the edition's folder
``dcase<YEAR>t2/`` or ``dcase<YEAR>/`` with those inside: one root serves every edition.
``data.eval_root`` "auto" (default) takes the ``eval_data`` folder beside the development set
when it exists; "" or "none" uses no evaluation data; any other value is the evaluation set.

Training uses the development training clips plus the additional training clips. ``data.test``
picks the test clips: "all" (development and evaluation test clips), "dev" or "eval". Every
clip carries its set (attribute ``set``: ``dev`` / ``eval``) and a run scores each set apart
(``metrics.json`` ``sets.dev`` / ``sets.eval``, never one number over both): the official
score the organisers publish is the ``eval`` set's (sections 03-05 in 2021/2022, the
evaluation machine types from 2023), the ``dev`` set's is reported beside it.

Classes: one per (type, section); with ``data.attribute_classes`` one per (type, section,
attribute string) instead (:func:`attribute_classes`; ``data.test_attributes`` false scores
development test clips like evaluation ones, without the attributes in their names).

Options: ``root``, ``eval_root`` ("auto"), ``types`` ("" = the edition's official types, all
required), ``test`` ("all"), ``sample_rate`` (16000), ``clip_seconds`` (10 for 2021/2022, 6
from 2023, see :mod:`.editions`), ``attribute_classes`` (false), ``test_attributes`` (true);
2026 also ``channel`` ("near": channel 0, as the organisers' baseline; "far": channel 1;
"mean"). 2026 has no published evaluation list: its evaluation test clips, when on disk, are
scored unlabelled (:mod:`.editions`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from asdbench.sdk import (
    NORMAL,
    TEST,
    TRAIN,
    AsdbenchError,
    Clip,
    DataReport,
    ListedDataset,
    audio_files,
    audio_spec,
    join,
    parse_types,
)
from asdbench_dcase_editions.archives import archives as edition_archives
from asdbench_dcase_editions.editions import CHANNELS, EDITIONS, Edition
from asdbench_dcase_editions.evallists import EvalTruth, eval_truth
from asdbench_dcase_editions.names import parse_clip_name, parse_eval_test_name
from asdbench_dcase_editions.options import TEST_CHOICES

TEST_DIRS = ("test", "source_test", "target_test")
DEV, EVAL = "dev_data", "eval_data"
NO_ATTRIBUTES = "none"  # the attribute class of clips without attributes
ATTR_KEY, SET_KEY, TRUTH_KEY = "attributes", "set", "truth_attributes"

DEV_LAYOUT = ("<root>/<type>/train/section_XX_{source,target}_train_normal_*.wav and "
              "<root>/<type>/test/section_XX_*_test_{normal,anomaly}_*.wav (or <root>/dev_data/..., "
              "<root>/dcase<YEAR>t2/dev_data/...)")
EVAL_LAYOUT = "<eval_root>/<type>/train/section_XX_*_train_normal_*.wav and <eval_root>/<type>/test/section_XX_NNNN.wav"


# --- finding the sets --------------------------------------------------------------------


def set_candidates(root: Path, part: str, year: int) -> list[Path]:
    """Where a set (``dev_data``/``eval_data``) of an edition may sit below ``root``."""
    out = [root / "raw", root / part, root / part / "raw"]
    for edition in (f"dcase{year}t2", f"dcase{year}", f"DCASE{year}T2", f"DCASE{year}"):
        out += [root / edition / part, root / edition / part / "raw"]
    return out


def holds_types(folder: Path, types: Iterable[str]) -> bool:
    return folder.is_dir() and any((folder / t).is_dir() for t in types)


def find_set(root: Path, part: str, year: int, types: Iterable[str]) -> Path | None:
    """``root`` itself when it holds machine-type folders, else the first candidate that does."""
    types = list(types)
    if holds_types(root, types):
        return root
    for folder in set_candidates(root, part, year):
        if holds_types(folder, types):
            return folder
    return None


def sibling_eval(dev: Path) -> Path | None:
    """``.../dev_data[/raw]`` → ``.../eval_data[/raw]`` if the path has a ``dev_data`` part."""
    parts = list(dev.parts)
    if DEV not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(DEV)
    parts[i] = EVAL
    return Path(*parts)


# --- listing -----------------------------------------------------------------------------


def _test_files(folder: Path) -> list[Path]:
    """Files of ``test/``, ``source_test/`` and ``target_test/`` (once per name)."""
    seen: dict[str, Path] = {}
    for sub in TEST_DIRS:
        for path in audio_files(folder / sub):
            seen.setdefault(path.name, path)
    return [seen[n] for n in sorted(seen)]


def _clip_attrs(set_name: str, attributes: str, key: str = ATTR_KEY) -> tuple[tuple[str, str], ...]:
    return ((SET_KEY, set_name), (key, attributes))


def list_labelled(folder: Path, machine_type: str, set_name: str, report: DataReport, *,
                  dataset: str, with_test: bool = True) -> list[Clip]:
    """Train (normal) and labelled test clips of one machine type's folder.

    Oddly named files and anomalies in ``train/`` are reported and skipped; a type folder
    without training clips is an error.
    """
    clips: list[Clip] = []
    train = audio_files(folder / TRAIN)
    if not train:
        raise AsdbenchError(f"{dataset}: {folder / TRAIN} holds no .wav files "
                            f"(expected {DEV_LAYOUT})")
    for path in train:
        p = parse_clip_name(path.name)
        if p is None or p.split == TEST:
            report.add(path, "unrecognised name: expected section_XX_{source,target}_train_"
                             "normal_NNNN[_attributes].wav; file ignored")
            continue
        if p.label != NORMAL:
            report.add(path, "anomaly in train: training data must be normal; file ignored")
            continue
        clips.append(Clip(path=path, machine_type=machine_type, machine_id=p.section,
                          split=TRAIN, label=NORMAL, domain=p.domain,
                          attributes=_clip_attrs(set_name, p.attributes)))
    if not with_test:
        return clips
    for path in _test_files(folder):
        p = parse_clip_name(path.name)
        if p is None or p.split == TRAIN:
            report.add(path, "unrecognised name: expected section_XX_{source,target}_test_"
                             "{normal,anomaly}_NNNN[_attributes].wav; file ignored")
            continue
        clips.append(Clip(path=path, machine_type=machine_type, machine_id=p.section,
                          split=TEST, label=p.label, domain=p.domain,
                          attributes=_clip_attrs(set_name, p.attributes)))
    return clips


def truth_for(name: str, listed: dict[str, EvalTruth]) -> EvalTruth | None:
    """The ground truth of an evaluation test file: by its name, else by its canonical name
    (``section_03_test_0000.wav`` → ``section_03_0000.wav``)."""
    if name in listed:
        return listed[name]
    p = parse_eval_test_name(name)
    if p is None:
        return None
    for canonical in (f"section_{p.section}_{p.number}.wav",
                      f"section_{p.section}_{p.domain}_test_{p.number}.wav"):
        if canonical in listed:
            return listed[canonical]
    return None


def list_eval_test(folder: Path, machine_type: str, listed: dict[str, EvalTruth],
                   report: DataReport, *, dataset: str) -> list[Clip]:
    """Evaluation test clips of one type, labelled from the official list ``listed``."""
    clips: list[Clip] = []
    files = _test_files(folder)
    if not files:
        raise AsdbenchError(f"{dataset}: {folder / 'test'} holds no .wav files "
                            f"(expected {EVAL_LAYOUT})")
    found: set[str] = set()
    for path in files:
        p = parse_eval_test_name(path.name)
        if p is None:
            report.add(path, "unrecognised name: expected section_XX_NNNN.wav in the "
                             "evaluation test data; file ignored")
            continue
        truth = truth_for(path.name, listed)
        if truth is None:
            report.add(path, "unlisted file: not in the official evaluation list, label unknown")
            clips.append(Clip(path=path, machine_type=machine_type, machine_id=p.section,
                              split=TEST, label=None, domain=p.domain,
                              attributes=_clip_attrs("eval", "", TRUTH_KEY), name=path.name))
            continue
        found.add(truth.original)
        clips.append(Clip(path=path, machine_type=machine_type, machine_id=p.section,
                          split=TEST, label=truth.label, domain=truth.domain,
                          attributes=_clip_attrs("eval", truth.attributes, TRUTH_KEY),
                          name=path.name))
    for name, truth in sorted(listed.items()):
        if truth.original not in found:
            report.add(folder / "test" / name, "missing listed file: in the official "
                                               "evaluation list but not on disk")
    return clips


# --- attribute classes --------------------------------------------------------------------


def attribute_class(clip: Clip) -> str | None:
    """A clip's attribute class from its *file name* ("none" without attributes); None for
    evaluation test clips, whose attributes are not in their names (only in the ground truth)."""
    values = dict(clip.attributes)
    if ATTR_KEY not in values:
        return None
    return values[ATTR_KEY] or NO_ATTRIBUTES


def attribute_classes(clips: list[Clip], use_test_names: bool = True
                      ) -> tuple[list[Clip], int]:
    """One training class per (type, section, attribute string); returns (clips, fallbacks).

    Training clips get ``subclass`` = their attribute string ("none" when they have none). A
    test clip must be scored against a trained class: it gets its own attribute string when
    ``use_test_names`` and its file name carries one that was trained (development test
    names do); otherwise (evaluation test clips always, whose names carry no attributes) the
    section's most frequent training attribute string (ties: alphabetically first). The
    second value counts the test clips that took that fallback.
    """
    trained: dict[tuple[str, str], Counter] = {}
    for c in clips:
        if c.split == TRAIN:
            key = attribute_class(c) or NO_ATTRIBUTES
            trained.setdefault((c.machine_type, c.machine_id), Counter())[key] += 1
    out, fallbacks = [], 0
    for c in clips:
        counts = trained.get((c.machine_type, c.machine_id))
        if counts is None:  # a section never trained: the engine skips its test clips
            out.append(c)
            continue
        if c.split == TRAIN:
            out.append(replace(c, subclass=attribute_class(c) or NO_ATTRIBUTES))
            continue
        own = attribute_class(c) if use_test_names else None
        if own not in counts:
            own = min(counts, key=lambda k: (-counts[k], k))
            fallbacks += 1
        out.append(replace(c, subclass=own))
    return out, fallbacks


# --- options ------------------------------------------------------------------------------


def bool_option(options: dict[str, Any], key: str, dataset: str) -> bool:
    value = options[key]
    if not isinstance(value, bool):
        raise AsdbenchError(f"{dataset}: data.{key} must be true or false, got {value!r}")
    return value


class DcaseEdition(ListedDataset):
    """One DCASE Task 2 edition (2021-2025), development and optionally evaluation data."""

    def __init__(self, edition: Edition, options: dict[str, Any]) -> None:
        self.edition = edition
        self.name = edition.name
        self.protocols = (edition.protocol,)
        spec = audio_spec(options, self.name)
        if edition.two_channel:
            spec = replace(spec, channel=CHANNELS[str(options["channel"])])
        super().__init__(spec)
        self.attribute_classes = bool_option(options, "attribute_classes", self.name)
        self.test_attributes = bool_option(options, "test_attributes", self.name)
        self.test = str(options["test"]).strip()
        if self.test not in TEST_CHOICES:
            raise AsdbenchError(f"{self.name}: data.test must be one of {join(TEST_CHOICES)}, "
                                f"got {options['test']!r}")
        chosen = parse_types(options["types"])
        self.dev, self.eval = self._locate(options, chosen)
        self.dev_types, self.eval_types = self._types(chosen)

    def _locate(self, options: dict[str, Any], chosen: list[str]) -> tuple[Path, Path | None]:
        root = str(options["root"] or "").strip()
        if not root:
            raise AsdbenchError(f"{self.name}: no data folder given; set --data-root "
                                f"(data.root) (expected {DEV_LAYOUT})")
        base = Path(root).expanduser()
        if not base.is_dir():
            raise AsdbenchError(f"{self.name}: data folder {base} not found (expected "
                                f"{DEV_LAYOUT})")
        year = self.edition.year
        looked_for = list(dict.fromkeys(chosen + list(self.edition.dev_types)))
        dev = find_set(base, DEV, year, looked_for)
        if dev is None:
            raise AsdbenchError(f"{self.name}: no development set of DCASE {year} under {base} "
                                f"(expected {DEV_LAYOUT}; machine types looked for: "
                                f"{join(looked_for)})")
        raw = str(options["eval_root"] if options["eval_root"] is not None else "").strip()
        eval_types = chosen or self.edition.eval_types
        if raw.lower() in ("", "none"):
            ev = None
        elif raw.lower() == "auto":
            sib = sibling_eval(dev)
            ev = sib if sib is not None and holds_types(sib, eval_types) else None
            if ev is None:
                ev = find_set(base, EVAL, year, eval_types)
            if ev == dev:  # e.g. root=dev_data holding raw/: the search found the dev set
                ev = None
        else:
            given = Path(raw).expanduser()
            if not given.is_dir():
                raise AsdbenchError(f"{self.name}: evaluation folder {given} (data.eval_root) "
                                    f"not found (expected {EVAL_LAYOUT})")
            ev = find_set(given, EVAL, year, eval_types)
            if ev is None:
                raise AsdbenchError(f"{self.name}: no evaluation set of DCASE {year} under "
                                    f"{given} (expected {EVAL_LAYOUT}; machine types looked "
                                    f"for: {join(eval_types)})")
        if self.test == "eval" and ev is None:
            raise AsdbenchError(f"{self.name}: data.test=eval needs the evaluation set: "
                                f"none found beside {dev}; set data.eval_root")
        return dev, ev

    def _types(self, chosen: list[str]) -> tuple[list[str], list[str]]:
        """Machine types read from each set. Default: the edition's official types, each of
        which must be present; chosen types must each be in one of the sets."""
        if not chosen:
            dev_types = list(self.edition.dev_types)
            eval_types = list(self.edition.eval_types) if self.eval is not None else []
            for folder, types in ((self.dev, dev_types), (self.eval, eval_types)):
                missing = [t for t in types if folder is not None and not (folder / t).is_dir()]
                if missing:
                    raise AsdbenchError(
                        f"{self.name}: machine type folder {folder / missing[0]} not found "
                        f"(missing: {join(missing)}); choose the types present with "
                        "--set data.types=...")
            return dev_types, eval_types
        dev_types = [t for t in chosen if (self.dev / t).is_dir()]
        eval_types = [t for t in chosen if self.eval is not None and (self.eval / t).is_dir()]
        absent = [t for t in chosen if t not in dev_types and t not in eval_types]
        if absent:
            where = join(str(f) for f in (self.dev, self.eval) if f is not None)
            raise AsdbenchError(f"{self.name}: machine type '{absent[0]}' (data.types) not "
                                f"found in {where}")
        return dev_types, eval_types

    def _list(self, report: DataReport) -> list[Clip]:
        clips: list[Clip] = []
        for t in self.dev_types:
            clips += list_labelled(self.dev / t, t, "dev", report, dataset=self.name,
                                   with_test=self.test in ("all", "dev"))
        if self.eval is not None:
            listed = self.edition.eval_list
            truth = eval_truth(self.edition.year) if listed else {}
            for t in self.eval_types:
                folder = self.eval / t
                clips += list_labelled(folder, t, "eval", report, dataset=self.name,
                                       with_test=False)
                # no published list (2026): test clips on disk are scored unlabelled
                if self.test in ("all", "eval") and (listed or _test_files(folder)):
                    clips += list_eval_test(folder, t, truth.get(t, {}), report,
                                            dataset=self.name)
        if self.attribute_classes:
            clips, fallbacks = attribute_classes(clips, self.test_attributes)
            if fallbacks:
                report.add(f"{fallbacks} test clips", "attribute class fallback: scored against "
                           "their section's most frequent training attributes")
        return clips


def make_edition(year: int):
    """The dataset factory of one edition."""
    edition = EDITIONS[year]

    def factory(options: dict[str, Any]) -> DcaseEdition:
        return DcaseEdition(edition, options)

    factory.__name__ = f"make_{edition.name}"
    # the official archives ``asdbench data fetch dcase<YEAR>`` downloads (.archives)
    factory.archives = partial(edition_archives, year)
    return factory


# The factories the plugin registers by name (``"asdbench_dcase_editions.dataset:make_dcase2021"``).
make_dcase2021 = make_edition(2021)
make_dcase2022 = make_edition(2022)
make_dcase2023 = make_edition(2023)
make_dcase2024 = make_edition(2024)
make_dcase2025 = make_edition(2025)
make_dcase2026 = make_edition(2026)
