"""The official evaluation ground truth of DCASE 2021-2025 Task 2, shipped with this plugin.

``eval_data_list_<YEAR>.csv`` (copies of the lists in the project's shared data): a line with
one field starts a machine type's block; every other line is
``evaluation_test_file_name,original_name`` where the original name is a labelled name (see
:mod:`asdbench_dcase_editions.names`) carrying domain, label and attributes. Files may have
CRLF line ends.

The 2022 list is the corrected one (the first published list had wrong labels for ToyCar and
ToyTrain). Its ToyCar and ToyTrain *domains* still disagree with the official evaluator
(Kota-Dohi/dcase2022_evaluator, ``ground_truth_domain/``) for about half of the files, while
its labels agree; ``eval_domain_fixes_2022.csv`` holds the evaluator's domain of every such
file and takes precedence, so that AUC(source)/AUC(target) are computed as they were
officially. The attributes in those original names are then unreliable and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from asdbench.sdk import AsdbenchError
from asdbench_dcase_editions.names import SOURCE, TARGET, parse_clip_name

PACKAGE = "asdbench_dcase_editions"
DOMAIN_FIXES = {2022: "eval_domain_fixes_2022.csv"}


@dataclass(frozen=True)
class EvalTruth:
    """Ground truth of one evaluation test file (``original`` is the published name)."""

    original: str
    section: str
    domain: str
    label: int
    attributes: str


def list_file(year: int) -> str:
    return f"eval_data_list_{year}.csv"


def _text(name: str, path: str | None) -> str:
    if path is not None:
        return Path(path).read_text()
    return resources.files(PACKAGE).joinpath(name).read_text()


def read_blocks(text: str, source: str, fields: int) -> dict[str, list[tuple[str, ...]]]:
    """Block-format CSV → ``{machine type: [rows of `fields` fields]}``.

    A one-field line starts a block; ``#`` lines and blank lines are skipped. Raises
    :class:`AsdbenchError` naming ``source`` and the line on anything else.
    """
    out: dict[str, list[tuple[str, ...]]] = {}
    current: list[tuple[str, ...]] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = tuple(p.strip() for p in line.split(","))
        if len(parts) == 1:
            current = out.setdefault(parts[0], [])
        elif len(parts) == fields and current is not None:
            current.append(parts)
        else:
            raise AsdbenchError(f"{source}:{lineno}: unexpected line '{line}'")
    return out


def parse_eval_list(text: str, source: str = "eval list",
                    domain_fixes: dict[str, dict[str, str]] | None = None,
                    ) -> dict[str, dict[str, EvalTruth]]:
    """``{type: {test_file_name: EvalTruth}}`` from an evaluation list's text.

    ``domain_fixes`` (``{type: {file: domain}}``) overrides the domain of the files it names
    (their attributes are then dropped, see the module docstring).
    """
    fixes = domain_fixes or {}
    out: dict[str, dict[str, EvalTruth]] = {}
    for machine_type, rows in read_blocks(text, source, 2).items():
        block = out.setdefault(machine_type, {})
        for file_name, original in rows:
            parsed = parse_clip_name(original)
            if parsed is None:
                raise AsdbenchError(f"{source}: {machine_type}/{file_name}: original name "
                                    f"'{original}' is not a labelled DCASE name")
            domain, attributes = parsed.domain, parsed.attributes
            fixed = fixes.get(machine_type, {}).get(file_name)
            if fixed is not None:
                domain, attributes = fixed, ""
            block[file_name] = EvalTruth(original, parsed.section, domain, parsed.label,
                                         attributes)
    return out


def parse_domain_fixes(text: str, source: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for machine_type, rows in read_blocks(text, source, 2).items():
        for file_name, domain in rows:
            if domain not in (SOURCE, TARGET):
                raise AsdbenchError(f"{source}: {machine_type}/{file_name}: domain must be "
                                    f"source or target, not '{domain}'")
            out.setdefault(machine_type, {})[file_name] = domain
    return out


@lru_cache(maxsize=8)
def eval_truth(year: int, path: str | None = None) -> dict[str, dict[str, EvalTruth]]:
    """The shipped (or, with ``path``, another) evaluation ground truth of one edition.

    The shipped lists get the edition's domain fixes; a list given by ``path`` is read as is.
    """
    name = list_file(year)
    fixes = None
    if path is None and year in DOMAIN_FIXES:
        fixes = parse_domain_fixes(_text(DOMAIN_FIXES[year], None), DOMAIN_FIXES[year])
    try:
        text = _text(name, path)
    except FileNotFoundError:
        raise AsdbenchError(f"evaluation list {path or name} not found") from None
    return parse_eval_list(text, path or name, fixes)
