"""``asdbench data``: inspect datasets before a run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from asdbench.datacheck import DataSummary, check_dataset
from asdbench.registry import AsdbenchError

# Problems shown per category in the table (all of them are in --json).
EXAMPLES_PER_CATEGORY = 3


def _print_summary(summary: DataSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    a = summary.audio
    title = (f"dataset {summary.dataset}: {len(summary.classes)} classes, "
             f"{a.sample_rate} Hz, {a.clip_seconds:g} s clips")
    table = Table(title=title)
    columns = [("type", "machine_type"), ("ID", "machine_id"), ("train", "train"),
               ("test normal", "test_normal"), ("test anomaly", "test_anomaly"),
               ("unlabelled", "test_unlabelled")]
    if summary.decoded:
        columns.append(("unusable", "unusable"))
    for head, _ in columns:
        table.add_column(head, justify="left" if head in ("type", "ID") else "right")
    for row in summary.rows:
        table.add_row(*(str(row[key]) for _, key in columns))
    table.add_section()
    table.add_row("total", "", *(str(summary.total(key)) for _, key in columns[2:]))
    console.print(table)
    if not summary.problems:
        console.print("no problems found" + ("" if summary.decoded else " (files not decoded)"))
        return
    problems = Table(title="problems")
    for head in ("problem", "count", "examples"):
        problems.add_column(head, justify="right" if head == "count" else "left")
    examples: dict[str, list[str]] = {}
    for item, message in summary.problems:
        cat = message.split(":")[0]
        if len(examples.setdefault(cat, [])) < EXAMPLES_PER_CATEGORY:
            examples[cat].append(f"{item}: {message[len(cat) + 1:].strip()}")
    for cat, count in summary.counts.most_common():
        problems.add_row(cat, str(count), "\n".join(examples.get(cat, [])))
    console.print(problems)


@click.group("data")
def command() -> None:
    """Inspect datasets."""


@command.command("check")
@click.option("--dataset", "dataset_name", default=None,
              help="Registered dataset name (default: the run default).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="The dataset's folder (same as --set data.root=PATH).")
@click.option("--set", "sets", multiple=True, metavar="data.KEY=VALUE",
              help="A dataset option, e.g. --set data.types=fan,pump (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-decode", is_flag=True, help="Only list the files; do not decode them.")
@click.option("--strict", is_flag=True, help="Exit with status 2 when any problem is found.")
def check_command(dataset_name: str | None, data_root: Path | None, sets: tuple[str, ...],
                  as_json: bool, no_decode: bool, strict: bool) -> None:
    """List a dataset's clips per machine type and ID, decode them, report every problem.

    Exits with status 1 when no run could train and evaluate on the dataset (the cause is
    the last line), 2 with --strict when any problem is found.

    \b
    Examples:
      asdbench data check
      asdbench data check --dataset dcase2020 --data-root ~/data/dcase2020/dev
      asdbench data check --dataset folder --data-root ~/plant-recordings --json
    """
    from asdbench.config import COMPONENT_DEFAULTS, parse_sets
    from asdbench.plugins import get_registry
    from asdbench.registry import plugin_stdout

    name = dataset_name or COMPONENT_DEFAULTS["dataset"]
    options: dict[str, Any] = {}
    for key, value in parse_sets(sets).items():
        if not key.startswith("data."):
            raise AsdbenchError(f"--set {key}: 'data check' takes dataset options only "
                                "(data.KEY=VALUE)")
        options[key[len("data."):]] = value
    if data_root is not None:
        options["root"] = str(data_root)
    with plugin_stdout(as_json):  # stdout: the JSON alone
        dataset = get_registry().create("dataset", name, options)
        summary = check_dataset(dataset, decode=not no_decode,
                                progress=not as_json and sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary)
    if summary.fatal:
        raise AsdbenchError(f"nothing usable in dataset '{summary.dataset}': {summary.fatal}")
    if strict and summary.problems:
        sys.exit(2)


@command.command("fetch")
@click.argument("dataset_name", metavar="DATASET")
@click.option("--to", "to", type=click.Path(path_type=Path), required=True,
              help="Folder the archives are downloaded to and unpacked in.")
@click.option("--part", "parts", default="",
              help="Comma-separated parts to fetch (e.g. dev,additional,eval; default: all).")
@click.option("--types", default="", help="Comma-separated machine types (default: all).")
@click.option("--dry-run", is_flag=True, help="List the archives; download nothing.")
def fetch_command(dataset_name: str, to: Path, parts: str, types: str, dry_run: bool) -> None:
    """Download and unpack a dataset's official archives into --to.

    Resumable (run it again after a stop: a partial download is continued), verified (the
    size the server announces; the zip's CRCs on unpacking; and an md5 where one with a named
    source is shipped: DCASE 2020 and 2023, copied from soundata's lists of the Zenodo
    records, none for 2021, 2022, 2024, 2025, 2026), and an archive already complete is
    neither downloaded nor unpacked again.

    \b
    Examples:
      asdbench data fetch dcase2020 --to dcase2020 --dry-run
      asdbench data fetch dcase2020 --to dcase2020 --part dev,additional
      asdbench data fetch dcase2023 --to data/dcase2023t2 --types fan,Vacuum
    """
    from asdbench.fetch import choose, dataset_archives, fetch
    from asdbench.plugins import get_registry

    factory = get_registry().get("dataset", dataset_name).load_factory()
    split = [p.strip() for p in parts.split(",") if p.strip()]
    chosen = choose(dataset_archives(factory, dataset_name), split,
                    [t.strip() for t in types.split(",") if t.strip()])
    if dry_run:
        for a in chosen:
            click.echo(f"{a.part or '-'}\t{a.machine_type or '-'}\t{a.url}\t-> {to / a.folder}")
        return
    result = fetch(chosen, to, log=lambda line: click.echo(line, err=True))
    click.echo(f"{dataset_name}: {len(result.downloaded)} downloaded, {len(result.unpacked)} "
               f"unpacked, {len(result.skipped)} already there, in {to}")
