"""A page rendered by a real browser: headless Chromium (Debian's ``chromium``), for the
report's test and its committed screenshot.

``python tests/tooling/browser.py PAGE.html SHOT.png [WIDTH]`` writes a screenshot of
the whole page (its height measured by the browser first).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")
# Appended to a copy of the page: the browser writes the laid-out height into the DOM it dumps
_MEASURE = ("<script>document.body.setAttribute('data-rendered-height', "
            "String(document.documentElement.scrollHeight));</script>")


def find_chromium() -> str | None:
    """The first Chromium on PATH, or None."""
    return next((found for name in NAMES if (found := shutil.which(name))), None)


def _chromium(args: list[str], timeout: float) -> str:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(f"no browser on PATH ({', '.join(NAMES)})")
    with tempfile.TemporaryDirectory(prefix="asdbench-chromium-") as profile:
        # --no-sandbox: root (CI, containers) cannot use the sandbox; a fresh profile keeps
        # two renders (parallel tests) from locking each other out
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{exe} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def dump_dom(page: Path, width: int = 1366, timeout: float = 120) -> str:
    """The DOM of ``page`` after the browser loaded and laid it out."""
    return _chromium([f"--window-size={width},900", "--dump-dom",
                      Path(page).resolve().as_uri()], timeout)


def rendered_height(page: Path, width: int = 1366, timeout: float = 120) -> int:
    """The page's height in CSS pixels at ``width``, as the browser laid it out."""
    page = Path(page)
    with tempfile.TemporaryDirectory(prefix="asdbench-measure-") as tmp:
        copy = Path(tmp) / page.name
        copy.write_text(page.read_text(encoding="utf-8").replace(
            "</body>", _MEASURE + "</body>", 1), encoding="utf-8")
        dom = dump_dom(copy, width, timeout)
    found = re.search(r'data-rendered-height="(\d+)"', dom)
    if not found:
        raise RuntimeError(f"the browser did not lay out {page} (no height in its DOM)")
    return int(found.group(1))


def screenshot(page: Path, png: Path, width: int = 1366, height: int | None = None,
               timeout: float = 120) -> Path:
    """A PNG of ``page`` at ``width``; ``height`` None: the whole page."""
    height = height or rendered_height(page, width, timeout)
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium([f"--window-size={width},{height}", f"--screenshot={png}",
               Path(page).resolve().as_uri()], timeout)
    if not png.exists():
        raise RuntimeError(f"the browser wrote no screenshot of {page}")
    return png


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python tests/tooling/browser.py PAGE.html SHOT.png [WIDTH]",
              file=sys.stderr)
        return 2
    width = int(argv[2]) if len(argv) == 3 else 1366
    print(screenshot(Path(argv[0]), Path(argv[1]), width))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
