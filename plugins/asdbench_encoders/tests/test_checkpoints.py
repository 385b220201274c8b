"""Checkpoint errors are one line each, and ``asdbench weights fetch`` downloads, resumes and
checks, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import pathlib

import pytest
import torch
from click.testing import CliRunner

from asdbench.sdk import AsdbenchError, AudioSpec
from asdbench_encoders import beats, commands, weights
from asdbench_encoders.frontends import beats_frontend
from asdbench_encoders.options import BEATS_OPTIONS
from asdbench_encoders.tests.seeded import seeded_state

AUDIO = AudioSpec(sample_rate=16000, clip_seconds=1.0)


def _frontend(checkpoint, **options):
    values = {**{k: v.default for k, v in BEATS_OPTIONS.items()}, "checkpoint": str(checkpoint),
              **options}
    return beats_frontend(values, AUDIO)


def _tiny(path, cfg=None, state_cfg=None):
    cfg = cfg or beats.ARCHS["tiny"]
    model = beats.BEATs(state_cfg or cfg)
    state = seeded_state({k: tuple(v.shape) for k, v in model.state_dict().items()})
    torch.save({"cfg": cfg, "model": state}, path)
    return path


def _one_line_error(checkpoint, **options) -> str:
    with pytest.raises(AsdbenchError) as err:
        _frontend(checkpoint, **options)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_missing_published_checkpoint_prints_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path))
    message = _one_line_error("beats-iter3")
    assert f"asdbench weights fetch beats-iter3 --to {tmp_path}" in message
    message = _one_line_error(tmp_path / "elsewhere" / "BEATs_iter3_plus_AS2M.pt")
    assert "asdbench weights fetch beats-iter3-as2m --to" in message
    assert "asdbench weights list" in _one_line_error(tmp_path / "mine.pt")


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = _tiny(tmp_path / "tiny.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "not a readable checkpoint" in _one_line_error(path)


def test_another_architecture_names_the_mismatching_keys(tmp_path):
    deeper = {**beats.ARCHS["tiny"], "encoder_layers": 3}
    message = _one_line_error(_tiny(tmp_path / "a.pt", cfg=deeper, state_cfg=beats.ARCHS["tiny"]))
    assert "missing keys (e.g. encoder.layers.2." in message
    wider = {**beats.ARCHS["tiny"], "encoder_ffn_embed_dim": 256}
    message = _one_line_error(_tiny(tmp_path / "b.pt", cfg=wider, state_cfg=beats.ARCHS["tiny"]))
    assert "other shapes (e.g. encoder.layers.0.fc1.weight: (64, 32), expected (256, 32))" in message
    torch.save({"weights": {}}, tmp_path / "c.pt")
    assert "not a BEATs checkpoint" in _one_line_error(tmp_path / "c.pt")


class _Payload:
    """Unpickling this would create a file: the code a malicious checkpoint would run."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_with_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"cfg": _Payload(marker), "model": {}}, path)
    assert "refused" in _one_line_error(path)
    assert not marker.exists()


# --- fetching --------------------------------------------------------------------------------


def _entry(url: str, data: bytes, **changes) -> weights.Weight:
    spec = {"name": "test-weights", "encoder": "beats", "filename": "tiny.pt", "url": url,
            "source": "test", "size": len(data), "md5": hashlib.md5(data).hexdigest(),
            **changes}
    return weights.Weight(**spec)


def test_fetch_downloads_checks_and_does_not_download_twice(tmp_path, server, monkeypatch):
    folder, base = server
    data = _tiny(folder / "good.pt").read_bytes()
    monkeypatch.setattr(weights, "CATALOGUE", {"test-weights": _entry(base + "good.pt", data)})
    runner = CliRunner()
    result = runner.invoke(commands.command, ["fetch", "test-weights", "--to", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    got = tmp_path / "w" / "tiny.pt"
    assert got.read_bytes() == data
    _frontend(got)  # loads
    (folder / "good.pt").unlink()  # a second fetch must not need the server
    again = runner.invoke(commands.command, ["fetch", "test-weights", "--to", str(tmp_path / "w")])
    assert again.exit_code == 0 and "already" in again.output


def test_fetch_resumes_a_partial_download(tmp_path, server):
    folder, base = server
    data = _tiny(folder / "good.pt").read_bytes()
    entry = _entry(base + "good.pt", data)
    part = tmp_path / "w" / ".partial" / entry.name / "good.pt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    assert weights.fetch(entry, tmp_path / "w").read_bytes() == data


def test_fetch_refuses_a_truncated_file(tmp_path, server):
    folder, base = server
    data = _tiny(folder / "good.pt").read_bytes()
    (folder / "short.pt").write_bytes(data[:-100])
    with pytest.raises(AsdbenchError, match=f"expected {len(data)}"):
        weights.fetch(_entry(base + "short.pt", data), tmp_path / "w")
    assert not (tmp_path / "w" / "tiny.pt").exists()


def test_fetch_refuses_a_wrong_checksum_and_keeps_the_file_aside(tmp_path, server):
    folder, base = server
    data = _tiny(folder / "good.pt").read_bytes()
    with pytest.raises(AsdbenchError, match="md5") as err:
        weights.fetch(_entry(base + "good.pt", data, md5="0" * 32), tmp_path / "w")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "w" / "tiny.pt").exists()
    assert list((tmp_path / "w").rglob("*.bad"))


def test_every_published_checkpoint_has_a_source_and_a_file_name():
    for w in weights.CATALOGUE.values():
        assert w.url.startswith("https://") and w.source and pathlib.Path(w.filename).stem in w.url
    assert len({w.filename for w in weights.CATALOGUE.values()}) == len(weights.CATALOGUE)
