"""The report page: one self-contained HTML file, a table per track, plots embedded, links to
the run folders, and (where Debian's chromium is installed) rendered by a real browser."""

from __future__ import annotations

import base64
import os
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_leaderboard import registry, write_run
from tooling import browser

import asdbench.plugins
from asdbench.commands.report import report_command
from asdbench.leaderboard.report import report_path
from asdbench.registry import AsdbenchError

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What the tests read of a page: track sections (title, table rows), images, links."""

    def __init__(self, text: str):
        super().__init__()
        self.tracks: list[dict] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.external: list[str] = []
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if "//" in value.split("#")[0] and not value.startswith("data:"):
                self.external.append(value)
        if tag == "section" and "track" in (attrs.get("class") or "").split():
            self.tracks.append({"id": attrs["id"], "track": attrs["data-track"], "title": "",
                                "rows": 0, "tables": 0, "text": ""})
        current = self.tracks[-1] if self.tracks and "section" in self._in else None
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a" and attrs.get("href") and current is not None:
            self.links.append(attrs["href"])
        if current is not None and tag == "table":
            current["tables"] += 1
        if current is not None and tag == "tr" and "tbody" in self._in:
            current["rows"] += 1
        if tag not in ("img", "br", "meta"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in self._in:
            while self._in.pop() != tag:
                pass

    def handle_data(self, data):
        if self.tracks and "section" in self._in:
            self.tracks[-1]["text"] += data
            if self._in[-1] == "h2":
                self.tracks[-1]["title"] += data


@pytest.fixture
def results(tmp_path, monkeypatch):
    """Two tracks of one dataset: types fan,pump (os-scl 2 seeds, arcface 1) and fan only
    (os-scl 1 seed)."""
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = tmp_path / "results"
    for seed, fan in ((0, 0.90), (1, 0.94)):
        write_run(res, {"fan": fan, "pump": 0.80}, seed=seed, method="os-scl",
                  frontend="logmel", scores=True, dataset="synthetic")
    write_run(res, {"fan": 0.70, "pump": 0.60}, seed=0, method="arcface", frontend="logmel",
              scores=True, dataset="synthetic")
    write_run(res, {"fan": 0.85}, seed=0, method="os-scl", frontend="logmel", scores=True,
              dataset="synthetic", **{"data.types": "fan"})
    return res


def _report(results: Path, *args: str) -> Path:
    out = CliRunner().invoke(report_command, ["--results", str(results), *args])
    assert out.exit_code == 0, out.output
    return Path(out.output.split("wrote ", 1)[1].split(" (", 1)[0])


def test_report_has_a_table_per_track_with_protocol_set_and_settings(results, tmp_path):
    path = _report(results, "--out", str(tmp_path / "site"))
    assert path == tmp_path / "site" / "report.html"
    page = Page(path.read_text(encoding="utf-8"))
    titles = [t["title"] for t in page.tracks]
    assert len(titles) == 2
    assert "types=fan,pump" in titles[0] and "protocol dcase2020" in titles[0]
    assert "types=fan)" in titles[1]
    assert [(t["tables"], t["rows"]) for t in page.tracks] == [(1, 2), (1, 1)]
    first = page.tracks[0]["text"]
    # write_run: 2 IDs per type, 6 normal + 6 anomalous clips each
    assert "48 labelled clips (24 normal, 24 anomalous) of 4 machine IDs" in first
    assert "dcase2020 (the dataset's official protocol)" in first
    assert "3 finished run(s) in 2 row(s)" in first
    assert "95 % CI" in first and "jackknife" in first
    assert "types=fan" in page.tracks[1]["text"]


def test_report_is_self_contained_with_embedded_plots_and_relative_run_links(results,
                                                                             tmp_path):
    path = _report(results, "--out", str(tmp_path / "page.html"))
    page = Page(path.read_text(encoding="utf-8"))
    assert page.external == []
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    for src in page.images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    runs = sorted(link for link in page.links if not link.startswith("#"))
    assert len(runs) == 4  # one per seed: 2 + 1 + 1
    for link in runs:
        assert not link.startswith("/")
        assert (path.parent / link / "metrics.json").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["page.html", "results"]  # no temp


def test_report_ranking_metric_first_and_no_plots_option(results, tmp_path):
    path = _report(results, "--out", str(tmp_path / "r.html"), "--no-plots")
    text = path.read_text(encoding="utf-8")
    assert "<img" not in text
    heads = text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    order = [h.split(">", 1)[1].split("</th>")[0].replace("<br>", " ")
             for h in heads.split("<th")[1:]]
    assert order[:7] == ["rank", "method", "frontend", "n", "average AUC", "95 % CI", "fan AUC"]
    assert order[-1] == "runs"


def test_report_without_runs_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    out = CliRunner().invoke(report_command, ["--results", str(tmp_path)])
    assert isinstance(out.exception, AsdbenchError) and "no finished run" in str(out.exception)
    assert not (tmp_path / "report.html").exists()


def test_report_path_takes_a_file_or_a_folder():
    assert report_path(Path("a/b.html")) == Path("a/b.html")
    assert report_path(Path("a/b")) == Path("a/b/report.html")


@pytest.mark.skipif(browser.find_chromium() is None,
                    reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run "
                    "installs it when run as root)")
def test_report_renders_in_headless_chromium(results, tmp_path):
    path = _report(results, "--out", str(tmp_path / "site"))
    dom = Page(browser.dump_dom(path))
    assert [t["title"] for t in dom.tracks] == [t["title"] for t in Page(
        path.read_text(encoding="utf-8")).tracks]
    assert [(t["tables"], t["rows"]) for t in dom.tracks] == [(1, 2), (1, 1)]
    height = browser.rendered_height(path)
    assert height > 900  # laid out: two track cards with tables and plots
    shot = browser.screenshot(path, tmp_path / "shot.png", width=1280)
    head = shot.read_bytes()[:24]
    assert head[:8] == PNG
    assert struct.unpack(">II", head[16:24]) == (1280, height)
    if os.environ.get("ASDBENCH_KEEP_SCREENSHOT"):  # for looking at it by hand
        Path(os.environ["ASDBENCH_KEEP_SCREENSHOT"]).write_bytes(shot.read_bytes())


def test_report_has_a_table_per_test_set_and_says_which(tmp_path, monkeypatch):
    monkeypatch.setattr(asdbench.plugins, "get_registry", registry)
    res = tmp_path / "results"
    for seed in (0, 1):
        write_run(res, {"fan": 0.9}, seed=seed, method="os-scl", frontend="logmel",
                  dataset="dcase2020", sets={"dev": {"fan": 0.9}, "eval": {"fan": 0.6}})
    path = _report(res, "--out", str(tmp_path / "r.html"), "--no-plots")
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    assert [("· set dev ·" in t["title"], "· set eval ·" in t["title"]) for t in page.tracks] == [
        (True, False), (False, True)]
    assert 'data-set="dev"' in html and 'data-set="eval"' in html
    assert "set dev (development set) of dcase2020: 24 labelled clips" in page.tracks[0]["text"]
    assert "set eval (evaluation set) of dcase2020" in page.tracks[1]["text"]
    only = Page(_report(res, "--out", str(tmp_path / "e.html"), "--no-plots", "--test-set",
                        "eval").read_text(encoding="utf-8"))
    assert len(only.tracks) == 1 and "· set eval ·" in only.tracks[0]["title"]


def test_report_embeds_the_sweep_plot_and_its_values(tmp_path, monkeypatch):
    from test_sweep import SIM, by_hand, write_sweep
    from test_sweep import registry as sweep_registry

    monkeypatch.setattr(asdbench.plugins, "get_registry", sweep_registry)
    res = tmp_path / "results"
    write_sweep(res)
    path = _report(res, "--out", str(tmp_path / "r.html"), "--sweep", SIM)
    html = path.read_text(encoding="utf-8")
    section = html.split('<section class="card sweep" id="sweep-1">', 1)[1].split("</section>")[0]
    assert f"average AUC against <code>{SIM}</code>" in section
    assert 'alt="leaderboard_sweep_data.id_similarity"' in section
    mean, std = by_hand("arcface", (), 0.0)
    assert f"{100 * mean:.2f}<span class=\"std\">± {100 * std:.2f}</span>" in section
    assert '<a href="#sweep-1">' in html
    bad = CliRunner().invoke(report_command, ["--results", str(res), "--sweep", SIM,
                                              "--no-plots"])
    assert str(bad.exception) == "--sweep draws a plot: it cannot go with --no-plots"
