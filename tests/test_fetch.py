"""``asdbench data fetch``: download, resume, verify and unpack archives, against a local HTTP
server on 127.0.0.1 serving zip archives built here (the internet is never reached)."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli
from asdbench.commands.data import command as data_command
from asdbench.data import TEST, TRAIN
from asdbench.errors import AsdbenchError
from asdbench.fetch import ARCHIVES_DIR, Archive, choose, dataset_archives, fetch
from asdbench.plugins import get_registry


class Server:
    """Files by URL path; honours ``Range: bytes=N-`` (206) unless ``ranges`` is off."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.ranges = True
        self.headers: dict[str, dict[str, str]] = {}  # URL path -> headers sent instead
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(rng[len("bytes="):].rstrip("-")) if rng and server.ranges else 0
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                sent = {"Content-Length": str(len(data) - start),
                        **server.headers.get(self.path, {})}
                for key, value in sent.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, name: str, data: bytes) -> str:
        self.files[f"/files/{name}"] = data
        return f"{self.base}/files/{name}"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def noise(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


MEMBERS = {"fan/train/a.bin": noise(50_000, 1), "fan/test/b.bin": noise(30_000, 2)}


def one_archive(server: Server, **kw) -> tuple[Archive, bytes]:
    data = make_zip(MEMBERS)
    return Archive(url=server.add("dev_data_fan.zip", data), folder="dev_data", part="dev",
                   machine_type="fan", **kw), data


# --- download, resume, verify ---------------------------------------------------------------


def test_fresh_download_unpacks_into_the_folder(server, tmp_path):
    archive, data = one_archive(server, size=None)
    result = fetch([archive], tmp_path)
    assert result.downloaded == result.unpacked == ["dev_data_fan.zip"]
    for name, content in MEMBERS.items():
        assert (tmp_path / "dev_data" / name).read_bytes() == content
    assert (tmp_path / ARCHIVES_DIR / "dev_data_fan.zip").read_bytes() == data
    assert not list(tmp_path.rglob("*.part"))
    assert server.requests == [("/files/dev_data_fan.zip", None)]


def test_a_truncated_part_is_resumed_with_a_range_request(server, tmp_path):
    archive, data = one_archive(server, md5=hashlib.md5(make_zip(MEMBERS)).hexdigest())
    store = tmp_path / ARCHIVES_DIR
    store.mkdir()
    (store / "dev_data_fan.zip.part").write_bytes(data[:12_345])
    lines: list[str] = []
    fetch([archive], tmp_path, log=lines.append)
    assert server.requests == [("/files/dev_data_fan.zip", "bytes=12345-")]
    assert (store / "dev_data_fan.zip").read_bytes() == data
    assert any("resuming at 12345 bytes" in line for line in lines)
    assert (tmp_path / "dev_data" / "fan/test/b.bin").read_bytes() == MEMBERS["fan/test/b.bin"]


def test_a_server_without_ranges_downloads_the_whole_archive_again(server, tmp_path):
    archive, data = one_archive(server)
    server.ranges = False
    store = tmp_path / ARCHIVES_DIR
    store.mkdir()
    (store / "dev_data_fan.zip.part").write_bytes(b"garbage" * 100)
    fetch([archive], tmp_path)
    assert (store / "dev_data_fan.zip").read_bytes() == data


def test_a_checksum_mismatch_is_a_one_line_error_and_keeps_the_download_aside(server, tmp_path):
    archive, data = one_archive(server, md5="0" * 32)
    with pytest.raises(AsdbenchError) as err:
        fetch([archive], tmp_path)
    message = str(err.value)
    actual = hashlib.md5(data).hexdigest()
    assert "\n" not in message and "dev_data_fan.zip" in message
    assert f"md5 {actual}, expected {'0' * 32}" in message and "run the command again" in message
    store = tmp_path / ARCHIVES_DIR
    assert sorted(p.name for p in store.iterdir()) == ["dev_data_fan.zip.bad"]
    assert (store / "dev_data_fan.zip.bad").read_bytes() == data  # kept, not deleted
    assert not (tmp_path / "dev_data").exists()
    # the right sum: the next run downloads afresh (no Range from the kept-aside file)
    right = Archive(url=archive.url, folder="dev_data", md5=actual.upper())
    assert fetch([right], tmp_path).unpacked == ["dev_data_fan.zip"]
    assert server.requests[-1] == ("/files/dev_data_fan.zip", None)
    assert (store / "dev_data_fan.zip").read_bytes() == data


def test_the_command_exits_1_with_one_line_on_a_wrong_md5_and_0_on_the_right_one(
        server, tmp_path, monkeypatch):
    data = make_zip(MEMBERS)
    url = server.add("dev_data_fan.zip", data)
    actual = hashlib.md5(data).hexdigest()
    wrong = "f" * 32
    factory = get_registry().get("dataset", "dcase2020").load_factory()
    spec = {"url": url, "folder": "dev_data", "part": "dev", "machine_type": "fan"}
    monkeypatch.setattr(factory, "archives", lambda: [{**spec, "md5": wrong}])
    args = ["data", "fetch", "dcase2020", "--to", str(tmp_path)]
    add_plugin_commands(cli)  # as asdbench's main does: registers the core's commands
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and f"md5 {actual}, expected {wrong}" in lines[0]
    assert "dev_data_fan.zip" in lines[0] and "moved aside" in lines[0]
    monkeypatch.setattr(factory, "archives", lambda: [{**spec, "md5": actual}])
    good = CliRunner().invoke(cli, args)
    assert good.exit_code == 0, good.output
    assert (tmp_path / "dev_data" / "fan/train/a.bin").read_bytes() == MEMBERS["fan/train/a.bin"]


def test_an_md5_that_is_not_32_hex_digits_is_refused():
    for md5 in ("abc", "g" * 32, "0" * 33):
        with pytest.raises(AsdbenchError, match="not 32 hex digits"):
            Archive.from_mapping({"url": "https://h/a.zip", "folder": "x", "md5": md5}, "d")
    assert Archive.from_mapping({"url": "https://h/a.zip", "folder": "x", "md5": "A" * 32},
                                "d").md5 == "A" * 32


def test_a_size_the_server_does_not_offer_is_refused(server, tmp_path):
    archive, data = one_archive(server, size=10)
    with pytest.raises(AsdbenchError, match=f"offers {len(data)} bytes, expected 10"):
        fetch([archive], tmp_path)


def test_a_complete_archive_is_not_downloaded_again(server, tmp_path):
    archive, data = one_archive(server, size=len(make_zip(MEMBERS)))
    fetch([archive], tmp_path)
    unpacked = tmp_path / "dev_data" / "fan/train/a.bin"
    before = unpacked.stat().st_mtime_ns
    again = fetch([archive], tmp_path)
    assert again.skipped == ["dev_data_fan.zip"] and len(server.requests) == 1
    # the archive there but not unpacked (stopped after the download): unpacked, not fetched
    (tmp_path / ARCHIVES_DIR / "dev_data_fan.zip.unpacked").unlink()
    (tmp_path / "dev_data" / "fan/test/b.bin").unlink()
    third = fetch([archive], tmp_path)
    assert third.downloaded == [] and third.unpacked == ["dev_data_fan.zip"]
    assert len(server.requests) == 1
    assert unpacked.stat().st_mtime_ns == before  # a complete file is left alone
    assert (tmp_path / "dev_data" / "fan/test/b.bin").read_bytes() == MEMBERS["fan/test/b.bin"]


def test_a_part_already_holding_everything_is_finished_without_data(server, tmp_path):
    archive, data = one_archive(server)
    store = tmp_path / ARCHIVES_DIR
    store.mkdir()
    (store / "dev_data_fan.zip.part").write_bytes(data)
    fetch([archive], tmp_path)  # the server answers 416: the .part is the archive
    assert server.requests == [("/files/dev_data_fan.zip", f"bytes={len(data)}-")]
    assert (store / "dev_data_fan.zip").read_bytes() == data


def test_a_corrupt_zip_and_an_unreachable_server_are_one_line_errors(server, tmp_path):
    bad = Archive(url=server.add("bad.zip", b"not a zip at all"), folder="x")
    with pytest.raises(AsdbenchError, match="bad.zip.part: not a zip archive"):
        fetch([bad], tmp_path)
    missing = Archive(url=f"{server.base}/files/none.zip", folder="x")
    with pytest.raises(AsdbenchError, match="none.zip: HTTP 404"):
        fetch([missing], tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(AsdbenchError, match="cannot connect"):
        fetch([Archive(url=f"http://127.0.0.1:{port}/a.zip", folder="x")], tmp_path)


def test_archives_may_not_unpack_outside_the_folder(server, tmp_path):
    url = server.add("evil.zip", make_zip({"../escape.txt": b"x"}))
    with pytest.raises(AsdbenchError, match="outside"):
        fetch([Archive(url=url, folder="x")], tmp_path)
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(AsdbenchError, match="must be relative"):
        Archive.from_mapping({"url": url, "folder": "../up"}, "d")


# --- the datasets' tables and the command -----------------------------------------------------


@pytest.mark.parametrize("name, n", [("dcase2020", 18), ("dcase2021", 21), ("dcase2022", 21),
                                     ("dcase2023", 21), ("dcase2024", 25), ("dcase2025", 23)])
def test_every_dcase_dataset_declares_its_official_archives(name, n):
    registry = get_registry()
    archives = dataset_archives(registry.get("dataset", name).load_factory(), name)
    assert len(archives) == n and len({a.name for a in archives}) == n
    assert all(a.url.startswith("https://zenodo.org/record") and a.source for a in archives)
    assert {a.part for a in archives} == {"dev", "additional", "eval"}
    assert {a.folder for a in archives if a.part == "dev"} == {"dev_data"}
    assert {a.folder for a in archives if a.part != "dev"} == {"eval_data"}
    assert [a.machine_type for a in choose(archives, ["eval"], ["fan"])] in (["fan"], [])


# archives with an md5 per dataset: those with a published sum found (see the archive lists'
# docstrings for the sources); 2021, 2022, 2024 and 2025 have none yet
WITH_MD5 = {"dcase2020": 18, "dcase2021": 0, "dcase2022": 0, "dcase2023": 21, "dcase2024": 0,
            "dcase2025": 0}


@pytest.mark.parametrize("name", sorted(WITH_MD5))
def test_every_shipped_checksum_is_a_32_hex_md5_with_its_source(name):
    archives = dataset_archives(get_registry().get("dataset", name).load_factory(), name)
    summed = [a for a in archives if a.md5]
    assert len(summed) == WITH_MD5[name]
    assert all(re.fullmatch(r"[0-9a-f]{32}", a.md5) for a in summed)
    assert len({a.md5 for a in summed}) == len(summed)  # no sum pasted twice
    assert all("md5" in a.source for a in summed)
    assert all(a.size is None or a.size > 0 for a in archives)


def test_the_2020_urls_are_the_organisers(tmp_path):
    registry = get_registry()
    urls = {a.url for a in dataset_archives(registry.get("dataset", "dcase2020").load_factory(),
                                            "dcase2020")}
    assert "https://zenodo.org/record/3678171/files/dev_data_fan.zip" in urls
    assert "https://zenodo.org/record/3727685/files/eval_data_train_ToyConveyor.zip" in urls
    assert "https://zenodo.org/record/3841772/files/eval_data_test_valve.zip" in urls


def wav_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    x = 0.1 * np.random.default_rng(seed).standard_normal(1600).astype(np.float32)
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_the_command_fetches_a_layout_the_dataset_reads(server, tmp_path, monkeypatch):
    """dcase2020 with archives on the local server, laid out as the official zips: the
    fetched folders are data.root / data.eval_root as they are."""
    dev = make_zip({"fan/train/normal_id_00_00000000.wav": wav_bytes(1),
                    "fan/test/normal_id_00_00000000.wav": wav_bytes(2),
                    "fan/test/anomaly_id_00_00000000.wav": wav_bytes(3)})
    add = make_zip({"fan/train/normal_id_01_00000000.wav": wav_bytes(4)})
    ev = make_zip({"fan/test/id_01_00000000.wav": wav_bytes(5)})
    specs = [{"url": server.add(n, d), "folder": f, "part": p, "machine_type": "fan",
              "md5": hashlib.md5(d).hexdigest()}
             for n, d, f, p in (("dev_data_fan.zip", dev, "dev_data", "dev"),
                                ("eval_data_train_fan.zip", add, "eval_data", "additional"),
                                ("eval_data_test_fan.zip", ev, "eval_data", "eval"))]
    factory = get_registry().get("dataset", "dcase2020").load_factory()
    monkeypatch.setattr(factory, "archives", lambda: specs)
    runner = CliRunner()
    dry = runner.invoke(data_command, ["fetch", "dcase2020", "--to", str(tmp_path),
                                       "--dry-run"])
    assert dry.exit_code == 0 and len(dry.output.splitlines()) == 3 and not server.requests
    res = runner.invoke(data_command, ["fetch", "dcase2020", "--to", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "3 downloaded, 3 unpacked, 0 already there" in res.output
    again = runner.invoke(data_command, ["fetch", "dcase2020", "--to", str(tmp_path)])
    assert "0 downloaded, 0 unpacked, 3 already there" in again.output
    assert len(server.requests) == 3
    ds = get_registry().create("dataset", "dcase2020", {
        "root": str(tmp_path / "dev_data"), "eval_root": str(tmp_path / "eval_data"),
        "types": "fan"})
    clips = ds.clips()
    assert sorted((c.split, c.machine_id) for c in clips) == [
        (TEST, "00"), (TEST, "00"), (TEST, "01"), (TRAIN, "00"), (TRAIN, "01")]


def test_a_dataset_without_archives_says_so():
    res = CliRunner().invoke(data_command, ["fetch", "synthetic", "--to", "x"])
    assert res.exit_code != 0
    assert "declares no archives" in str(res.exception)


def test_an_error_page_a_bad_header_and_a_corrupt_archive_never_land_in_place(server,
                                                                            tmp_path):
    """An HTML page served as the archive (no md5 to catch it), a Content-Length that is
    not a number, and a zip that passes its md5 but cannot be read: one line each, and
    nothing under the archive's own name; the corrupt one moved aside, its path named."""
    store = tmp_path / ARCHIVES_DIR
    page = Archive(url=server.add("page.zip", b"<html>Sign in</html>"), folder="x")
    server.headers["/files/page.zip"] = {"Content-Type": "text/html; charset=utf-8"}
    with pytest.raises(AsdbenchError, match="page.zip: the server sent a web page"):
        fetch([page], tmp_path)
    odd = Archive(url=server.add("odd.zip", make_zip(MEMBERS)), folder="x")
    server.headers["/files/odd.zip"] = {"Content-Length": "12 bytes"}
    with pytest.raises(AsdbenchError, match="odd.zip: the server sent a bad Content-Length"):
        fetch([odd], tmp_path)
    data = b"PK\x03\x04" + noise(100, 3)
    broken = Archive(url=server.add("broken.zip", data), folder="x",
                     md5=hashlib.md5(data).hexdigest())
    with pytest.raises(AsdbenchError) as err:
        fetch([broken], tmp_path)
    assert f"{store / 'broken.zip'}: not a readable zip archive" in str(err.value)
    assert f"moved aside as {store / 'broken.zip.bad'}" in str(err.value)
    assert not any(p.name in ("page.zip", "odd.zip", "broken.zip") for p in store.iterdir())
    assert (store / "broken.zip.bad").read_bytes() == data
