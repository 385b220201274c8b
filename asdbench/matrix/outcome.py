"""What a cell's process reports: its result line when it finished, else why it failed.

The child, ``asdbench run ... --expect-run-id <id>``, refuses to train when its settings
resolve to another run id, and prints one JSON object as its last stdout line::

    {"asdbench_result": {"run_id": "...", "run_dir": "...", "status": "finished"}}

The parent reads that line back from the cell's log and checks it against the cell: the
run id it expected, the run folder under its own results folder, and that folder finished.
No torch is imported here: the matrix reads the line without it, ``asdbench run`` writes it.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

from asdbench.run.rundir import RunDir

RESULT_KEY = "asdbench_result"
FINISHED = "finished"
# Lines of a cell's log kept for its failure record (and searched for the result line).
TAIL_LINES = 40

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def result_line(run_id: str, run_dir: str | Path, status: str = FINISHED) -> str:
    """The child's last stdout line: one JSON object on one line."""
    return json.dumps({RESULT_KEY: {"run_id": run_id, "run_dir": str(run_dir), "status": status}})


def read_result(text: str) -> dict[str, Any] | None:
    """The last result line in a cell's output, or None when it printed none.

    stderr shares the log with stdout, so a warning printed at interpreter exit may follow
    the result line: the last line that *is* a result line counts, not the last line.
    """
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get(RESULT_KEY), dict):
            return obj[RESULT_KEY]
    return None


def check_result(rc: int, output: str, run_id: str, results_dir: Path) -> str | None:
    """None when a cell's process finished the expected run, else the line saying why not."""
    if rc != 0:
        return error_line(output, rc)
    result = read_result(output)
    if result is None:
        return "exited with status 0 but printed no result line"
    if result.get("run_id") != run_id:
        return f"reported run id {result.get('run_id')}, expected {run_id}"
    if result.get("status") != FINISHED:
        return f"reported status {result.get('status')!r}, expected {FINISHED!r}"
    run_dir = RunDir.for_run(results_dir, run_id)
    reported = Path(str(result.get("run_dir")))
    if reported.resolve() != run_dir.path.resolve():
        return f"reported run folder {reported}, expected {run_dir.path}"
    if not run_dir.is_finished(expected_run_id=run_id):
        return f"reported finished, but {run_dir.metrics_path} is missing or not of this run"
    return None


def is_finished(results_dir: Path, run_id: str) -> bool:
    """Whether the run folder of ``run_id`` holds that run's ``metrics.json``."""
    return RunDir.for_run(results_dir, run_id).is_finished(expected_run_id=run_id)


def error_line(text: str, returncode: int | None = None) -> str:
    """The line that says why a cell failed: the last ``Error:`` line, else the last line."""
    lines = [_ANSI.sub("", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in reversed(lines):
        if ln.lower().startswith("error:") or re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln):
            return ln
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return lines[-1] if lines else f"exit status {returncode}"


def read_tail(path: str | Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log (empty when it cannot be read)."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
