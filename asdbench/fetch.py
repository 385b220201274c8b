"""Download and unpack a dataset's official archives (``asdbench data fetch``).

The archives are the dataset's own: a dataset factory may carry ``archives() -> list[dict]``
(see the ``asdbench_datasets`` hook), each dict one archive::

    {"url": "https://zenodo.org/records/3678171/files/dev_data_fan.zip",
     "folder": "dev_data",        # where it unpacks, relative to --to DIR
     "part": "dev",               # a name to choose archives by (--part)
     "machine_type": "fan",       # (--types)
     "size": None, "md5": None,   # bytes / hex digest when the publisher gives them
     "source": "..."}             # where the URL (and checksum) was read

This module names no dataset. An archive goes to ``DIR/.archives/<name>.part`` while it
downloads (resumed with an HTTP ``Range`` request when the ``.part`` is there), is checked
(size, md5 when known; the zip's own CRCs on unpacking; a failed check moves it to
``<name>.bad``, never deleting it) and renamed to ``<name>``; it then
unpacks into ``DIR/<folder>`` and leaves ``DIR/.archives/<name>.unpacked``. A complete
archive is never downloaded again, an unpacked one never unpacked again, and a file already
unpacked at its full size is not rewritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from asdbench.errors import AsdbenchError

ARCHIVES_DIR = ".archives"
CHUNK = 1 << 20
TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Archive:
    """One archive of a dataset: where to get it, how to check it, where it unpacks."""

    url: str
    folder: str
    part: str = ""
    machine_type: str = ""
    size: int | None = None
    md5: str | None = None
    source: str = ""

    @property
    def name(self) -> str:
        """The archive's file name: the URL path's last segment (no query)."""
        return PurePosixPath(urlparse(self.url).path).name

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], dataset: str) -> Archive:
        unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
        if unknown or not spec.get("url") or "folder" not in spec:
            what = f"unknown key '{unknown[0]}'" if unknown else "needs 'url' and 'folder'"
            raise AsdbenchError(f"dataset '{dataset}': archive {dict(spec)!r}: {what}")
        archive = cls(**dict(spec))
        if archive.md5 is not None and not _MD5.fullmatch(archive.md5):
            raise AsdbenchError(f"dataset '{dataset}': archive {archive.url}: md5 "
                                f"{archive.md5!r} is not 32 hex digits")
        folder = PurePosixPath(archive.folder)
        if folder.is_absolute() or ".." in folder.parts or not archive.name:
            raise AsdbenchError(f"dataset '{dataset}': archive {archive.url}: folder "
                                f"{archive.folder!r} must be relative, within --to")
        return archive


def dataset_archives(factory: Any, dataset: str) -> list[Archive]:
    """The archives a dataset factory declares (its optional ``archives()``)."""
    declare = getattr(factory, "archives", None)
    if declare is None:
        raise AsdbenchError(f"dataset '{dataset}' declares no archives to download; get its "
                            "data as its documentation says and pass --data-root")
    return [Archive.from_mapping(spec, dataset) for spec in declare()]


def choose(archives: Iterable[Archive], parts: Iterable[str] = (),
           types: Iterable[str] = ()) -> list[Archive]:
    """The archives of the given parts and machine types (empty: all); unknown names are an
    error listing the known ones."""
    every = list(archives)
    chosen = every
    for key, wanted in (("part", set(parts)), ("machine_type", set(types))):
        known = {getattr(a, key) for a in every}
        unknown = sorted(wanted - known)
        if unknown:
            flag = "--part" if key == "part" else "--types"
            raise AsdbenchError(f"{flag} {unknown[0]}: not one of {', '.join(sorted(known))}")
        if wanted:
            chosen = [a for a in chosen if getattr(a, key) in wanted]
    return chosen


# --- download -------------------------------------------------------------------------------


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_size(response: Any, offset: int) -> int | None:
    """The archive's full size from a 206's Content-Range or a 200's Content-Length."""
    if response.status == 206:
        m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        return int(m.group(3)) if m and m.group(3) != "*" else None
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    if not length.strip().isdigit():
        raise AsdbenchError(f"{response.geturl()}: the server sent a bad Content-Length "
                            f"({length!r}); try again later, or download the archive by hand")
    return int(length)


def _open(url: str, offset: int) -> Any:
    """The response for ``url`` from byte ``offset``; None when the server says the range
    starts at or past the end (HTTP 416: the ``.part`` already holds everything)."""
    request = urllib.request.Request(url, headers={"User-Agent": "asdbench-fetch"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            return None
        raise AsdbenchError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AsdbenchError(f"{url}: cannot connect ({reason})") from None


def _stream(archive: Archive, part: Path, log: Log) -> int | None:
    """Append the rest of ``archive`` to ``part``; returns the size the server announced."""
    offset = part.stat().st_size if part.exists() else 0
    response = _open(archive.url, offset)
    if response is None:
        return offset
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            log(f"{archive.name}: the server cannot resume, downloading it again")
            offset = 0
        kind = response.headers.get("Content-Type", "")
        if kind.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            raise AsdbenchError(f"{archive.url}: the server sent a web page ({kind}), not the "
                                "archive (an error or login page); nothing was saved")
        total = _total_size(response, offset)
        if archive.size is not None and total is not None and total != archive.size:
            raise AsdbenchError(f"{archive.url}: the server offers {total} bytes, "
                                f"expected {archive.size} ({archive.source or 'the record'})")
        if offset:
            log(f"{archive.name}: resuming at {offset} bytes")
        with part.open("ab" if offset else "wb") as f:
            shutil.copyfileobj(response, f, CHUNK)
    return total


def _verify(archive: Archive, part: Path, announced: int | None) -> None:
    """Size and md5 of a downloaded ``.part``; a mismatch moves it to ``<name>.bad`` (the
    next run downloads afresh) and is a one-line error naming both digests."""
    size = part.stat().st_size
    expected = archive.size if archive.size is not None else announced
    problem = ""
    if expected is not None and size != expected:
        problem = f"size {size} bytes, expected {expected}"
    elif archive.md5 is not None:
        digest = md5_of(part)
        if digest != archive.md5.lower():
            problem = f"md5 {digest}, expected {archive.md5.lower()}"
    elif not zipfile.is_zipfile(part):  # no digest to check: at least the right kind of file
        problem = "not a zip archive (an error page?)"
    if problem:
        raise _put_aside(archive.name, part, f"{problem} ({archive.url})")


def _put_aside(name: str, path: Path, problem: str) -> AsdbenchError:
    """Move a bad download to ``<name>.bad`` (kept, not deleted, so it can be inspected; the
    next run downloads afresh) and return the one-line error naming both paths."""
    bad = path.with_name(f"{name}.bad")
    os.replace(path, bad)
    return AsdbenchError(f"{path}: {problem}; moved aside as {bad}: run the command again "
                         "to download it afresh, and delete the .bad file once done")


def download(archive: Archive, folder: Path, log: Log = lambda _: None) -> Path:
    """``folder/<name>``, downloaded (or resumed) and checked unless already there."""
    final = folder / archive.name
    if final.exists() and (archive.size is None or final.stat().st_size == archive.size):
        log(f"{archive.name}: already downloaded")
        return final
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{archive.name}.part"
    log(f"{archive.name}: downloading {archive.url}")
    announced = _stream(archive, part, log)
    _verify(archive, part, announced)
    os.replace(part, final)
    return final


# --- unpack ---------------------------------------------------------------------------------


def _member_path(target: Path, name: str, archive: Path) -> Path:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise AsdbenchError(f"{archive.name}: member {name!r} would unpack outside {target}")
    return target.joinpath(*rel.parts)


def unpack(path: Path, target: Path) -> int:
    """Unpack zip ``path`` into ``target``; returns the files written. A file already there
    at its full size is left alone; each file is written beside itself and renamed, so a
    stopped unpack leaves no half file under its own name. A corrupt archive (bad CRC) is a
    one-line error naming it."""
    written = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                dest = _member_path(target, info.filename, path)
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                if dest.exists() and dest.stat().st_size == info.file_size:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + ".part")
                with zf.open(info) as src, tmp.open("wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                os.replace(tmp, dest)
                written += 1
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        raise _put_aside(path.name, path, f"not a readable zip archive ({err})") from None
    return written


@dataclass
class FetchResult:
    """What one fetch did, per archive name."""

    downloaded: list[str]
    unpacked: list[str]
    skipped: list[str]


def fetch(archives: Iterable[Archive], to: Path, log: Log = lambda _: None) -> FetchResult:
    """Download and unpack every archive into ``to`` (see the module docstring)."""
    store = to / ARCHIVES_DIR
    result = FetchResult([], [], [])
    for archive in archives:
        stamp = store / f"{archive.name}.unpacked"
        if stamp.exists():
            log(f"{archive.name}: already unpacked into {to / archive.folder}")
            result.skipped.append(archive.name)
            continue
        had = (store / archive.name).exists()
        path = download(archive, store, log)
        if not had:
            result.downloaded.append(archive.name)
        n = unpack(path, to / archive.folder)
        log(f"{archive.name}: {n} files unpacked into {to / archive.folder}")
        stamp.write_text(f"{archive.url}\n")
        result.unpacked.append(archive.name)
    return result
