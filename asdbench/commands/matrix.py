"""``asdbench matrix``: run every cell of a matrix file (see :mod:`asdbench.matrix`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from asdbench.commands.common import RESULTS_FOLDER
from asdbench.workspace import DEFAULT_HELP, default_results


@click.command("matrix")
@click.argument("config_file", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: a subprocess per cell, pinned to one GPU; ray: Ray tasks.")
@click.option("--address", help="Ray cluster to join (e.g. auto or ray://host:10001).")
@click.option("--results", type=RESULTS_FOLDER, default=default_results,
              show_default=DEFAULT_HELP, help="Results folder shared by every cell.")
@click.option("--dry-run", is_flag=True, help="List the cells and which are done; run nothing.")
@click.option("--max-parallel", type=click.IntRange(min=1),
              help="Cells at a time (default: one per visible GPU, 1 on a CPU).")
@click.option("--cells-per-gpu", type=click.IntRange(min=1),
              help="Cells sharing one GPU (default 1, or the matrix file's cells_per_gpu): "
                   "up to N x GPUs at once, each pinned to one device.")
@click.option("--gpu-memory-per-cell", metavar="SIZE",
              help="A cell's GPU memory until one is measured, e.g. 6GiB (or the matrix "
                   "file's gpu_memory_per_cell): no cell starts where less is free.")
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run a failed cell again up to N more times.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a shared setting for every cell (changes their run ids).")
def command(config_file: Path, executor: str, address: str | None, results: Path,
            dry_run: bool, max_parallel: int | None, cells_per_gpu: int | None,
            gpu_memory_per_cell: str | None, retries: int, sets) -> None:
    """Run every cell of a matrix file (axes x settings), skipping finished ones.

    Safe to interrupt and restart: finished cells are skipped, an interrupted cell resumes
    from its last epoch, and two matrix processes on one results folder never run the same
    cell. Failures are listed in RESULTS/matrix/<name>/failures.jsonl.

    Several cells per GPU (--cells-per-gpu N) fill a large GPU that one small run leaves
    mostly idle. A cell starts only where the GPU's free memory (nvidia-smi) covers its need:
    the peak a finished cell reached, before that --gpu-memory-per-cell. With Ray each cell
    asks for 1/N of a GPU. Cells sharing a GPU run concurrently rather than time-sliced when
    a CUDA MPS daemon runs (never required; the start line says when it is on):

    \b
      nvidia-cuda-mps-control -d            # start it (as the GPU's user)
      echo quit | nvidia-cuda-mps-control   # stop it

    \b
    Examples:
      asdbench matrix configs/quick.toml --dry-run
      asdbench matrix configs/quick.toml
      asdbench matrix configs/paper-table3.toml --max-parallel 4 --retries 1
      asdbench matrix configs/paper-table2.toml --cells-per-gpu 4 --gpu-memory-per-cell 6GiB
      asdbench matrix configs/paper-table2.toml --executor ray --address auto
    """
    from rich.console import Console

    from asdbench.config import flatten, parse_sets
    from asdbench.matrix.executors import make_executor
    from asdbench.matrix.grid import load_matrix
    from asdbench.matrix.runner import run_matrix
    from asdbench.matrix.status import print_plan
    from asdbench.plugins import get_registry

    # soft_wrap: long paths and error lines stay whole (copyable) in logs and narrow terminals
    console = Console(stderr=True, soft_wrap=True)
    config = load_matrix(config_file)
    if sets:
        config["settings"] = {**flatten(config.get("settings", {})), **parse_sets(sets)}
    registry = get_registry()
    if dry_run:
        out = Console() if sys.stdout.isatty() else Console(width=200)  # piped: no folding
        print_plan(config, results, registry, out)
        return
    per_gpu, memory = _packing(config, config_file, cells_per_gpu, gpu_memory_per_cell)
    ex = make_executor(executor, max_parallel=max_parallel, address=address,
                       cells_per_gpu=per_gpu, gpu_memory_per_cell=memory)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a kill stops cells as Ctrl-C does
    try:
        result = run_matrix(config, results, registry=registry, executor=ex, retries=retries,
                            console=console)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _report(result, results, console)


def _interrupt(signum, frame) -> None:
    """SIGTERM as Ctrl-C: the running cells are stopped and their claims released."""
    raise KeyboardInterrupt


def _packing(config: dict, config_file: Path, cells_per_gpu: int | None,
             gpu_memory_per_cell: str | None) -> tuple[int | None, int | None]:
    """Cells per GPU and GPU memory per cell (bytes): the command line's, else the file's."""
    from asdbench.matrix.gpus import parse_memory
    from asdbench.matrix.grid import packing

    file_per_gpu, file_memory = packing(config, str(config_file))
    memory = (parse_memory(gpu_memory_per_cell, "--gpu-memory-per-cell")
              if gpu_memory_per_cell else file_memory)
    return cells_per_gpu or file_per_gpu, memory


def _report(result, results: Path, console) -> None:
    """The closing lines; exit status 1 when a cell failed."""
    from rich.markup import escape as esc

    from asdbench.matrix.records import MatrixFolder

    console.print(f"matrix {esc(result.name)}: {len(result.done)} finished now, "
                  f"{len(result.skipped)} were done, {len(result.failed)} failed, "
                  f"{len(result.elsewhere)} running elsewhere")
    if result.failed:
        for key, error in result.failed.items():
            console.print(f"  [red]failed[/] {key}: {esc(error)}")
        failures = MatrixFolder(results, result.name).failures_path
        console.print(f"details: {esc(str(failures))}")
        raise SystemExit(1)
