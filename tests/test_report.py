"""The report page (``cfgan report``, and the page every run writes): its HTML, read without a browser.

Every image has alt text and a caption, every link is relative and points at a file that exists, nothing
refers to the network, small images are enlarged crisply, runs that did not finish say so, and commands the
report does not know still get their settings, items and pictures.
"""
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cfgan.cli import main
from cfgan.data import save_image
from cfgan.jobs import BatchOutput, Item, Job, run_job
from cfgan.report import load_run, register, write_report
from cfgan.report.images import display_size, image_size
from cfgan.report.page import MARKER
from cfgan.report.sections import _REGISTRY

pytestmark = pytest.mark.usefixtures("one_thread")


class PageFacts(HTMLParser):
    """Images (src, alt, class, width, caption of their figure), links, videos, ids and the page's text."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.links, self.videos, self.ids, self.scripts = [], [], [], set(), []
        self._figures, self._in_caption = [], 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "figure":
            self._figures.append({"images": [], "caption": ""})
        elif tag == "figcaption":
            self._in_caption += 1
        elif tag == "img":
            image = dict(a, caption=None)
            self.images.append(image)
            if self._figures:
                self._figures[-1]["images"].append(image)
        elif tag == "a":
            self.links.append(a.get("href", ""))
        elif tag == "video":
            self.videos.append(a)
        elif tag == "script":
            self.scripts.append(a)

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption -= 1
        elif tag == "figure" and self._figures:
            figure = self._figures.pop()
            for image in figure["images"]:
                image["caption"] = figure["caption"].strip()

    def handle_data(self, data):
        if self._in_caption and self._figures:
            self._figures[-1]["caption"] += data


def check_page(page: Path) -> PageFacts:
    """The rules every report page keeps; returns what it found for further checks."""
    text = page.read_text()
    assert text.startswith("<!doctype html>") and MARKER in text
    facts = PageFacts(text)
    assert facts.images, "a report without pictures"
    for image in facts.images:
        assert image.get("alt", "").strip(), image
        assert image["caption"], f"image without a caption: {image['src'][:80]}"
        src = image["src"]
        if src.startswith("data:"):
            assert src.startswith("data:image/png;base64,")
        else:
            assert not re.match(r"^[a-z]+:", src) and not src.startswith("/"), src  # relative
            assert (page.parent / src).is_file(), src
    for href in facts.links:
        if href.startswith("#"):
            assert href[1:] in facts.ids, href
        else:
            assert not re.match(r"^[a-z]+:", href) and not href.startswith("/"), href
            assert (page.parent / href).exists(), href
    for video in facts.videos:
        assert (page.parent / video["src"]).is_file()
    # nothing from the network, no external script, style sheet or font
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert all("src" not in s for s in facts.scripts) and "<link" not in text
    assert "@import" not in text and "url(" not in text and "@font-face" not in text
    return facts


# -- the pages runs write ---------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["cross", "invert", "am"])
def test_every_run_writes_a_report_that_keeps_the_rules(report_runs, command):
    page = report_runs[command] / "index.html"
    assert page.is_file(), "the runner writes the report at the end of the run"
    check_page(page)
    assert f"cfgan {command}" in page.read_text()


def test_cross_report_shows_each_subject_its_path_and_the_table(report_runs):
    out = report_runs["cross"]
    text = (out / "index.html").read_text()
    facts = check_page(out / "index.html")
    run = load_run(out)
    assert run.complete and len(run.items) == 2
    # per subject: the input (outside the run: embedded), the reconstruction with PSNR, the frames and video
    inputs = [i for i in facts.images if i["alt"].startswith("input image")]
    assert len(inputs) == 2 and all(i["src"].startswith("data:image/png;base64,") for i in inputs)
    assert text.count("<figcaption>reconstruction (frame 0): PSNR") == 2
    assert len(facts.videos) == 2 and all(v["src"].endswith("path.mp4") for v in facts.videos)
    players = re.findall(r'<figure class="player" data-frames="([^"]+)"', text)
    assert len(players) == 2
    for frames in players:
        frames = json.loads(frames.replace("&quot;", '"'))
        assert len(frames) == 5 and all((out / f).is_file() for f in frames)
    # the summary table: one row per path, with the class pair to filter by, linked to the path's card
    rows = re.findall(r'<tr data-pair="([^"]+)">', text)
    assert rows == ["0 → 1", "0 → 1"]
    assert re.search(r'<select data-filter="paths-table">.*<option value="0 → 1">', text)
    for item in run.items:
        assert f'id="path-{item["key"]}"' in text and f'href="#path-{item["key"]}"' in text
    # settings of the run
    assert "<dt>method</dt><dd>ascent</dd>" in text and "<dt>frames</dt><dd>5</dd>" in text


def test_small_images_are_enlarged_by_whole_factors_and_drawn_pixelated(report_runs):
    out = report_runs["cross"]
    facts = check_page(out / "index.html")
    frames = [i for i in facts.images if "/frames/" in i["src"]]
    assert frames
    for image in frames:
        natural = image_size(out / image["src"])
        assert natural == (16, 16)
        width = int(image["width"])
        assert "px" in image.get("class", "").split() and width >= 4 * natural[0] and width % natural[0] == 0
    css = (out / "index.html").read_text()
    assert "img.px{image-rendering:crisp-edges;image-rendering:pixelated}" in css


def test_display_sizes_enlarge_small_pictures_by_whole_factors_and_narrow_large_ones(tmp_path):
    for side, box, shown in ((16, 128, (128, 128, True)), (32, 100, (96, 96, True)), (28, 20, (20, 20, False)),
                             (300, 128, (128, 128, False)), (64, 0, (64, 64, True))):
        path = save_image(torch.zeros(1, side, side), tmp_path / f"{side}.png")
        assert display_size(path, box, pixel=True) == shown, (side, box)
    wide = save_image(torch.zeros(3, 40, 900), tmp_path / "plot.png")
    assert display_size(wide, 600) == (600, 27, False) and display_size(wide) == (900, 40, False)


def test_invert_and_am_reports_show_their_pictures(report_runs):
    facts = check_page(report_runs["invert"] / "index.html")
    text = (report_runs["invert"] / "index.html").read_text()
    assert sum("recon.png" in i["src"] for i in facts.images) == 2
    assert text.count("<figcaption>reconstruction: PSNR") == 2
    facts = check_page(report_runs["am"] / "index.html")
    grids = [i for i in facts.images if i["src"].endswith("grid.png")]
    assert len(grids) == 2 and all("mean p" in g["caption"] for g in grids)


# -- cfgan report ---------------------------------------------------------------------------------------
def test_report_of_several_runs_links_from_its_own_folder(report_runs, tmp_path):
    out = tmp_path / "combined"
    runs = [str(report_runs[k]) for k in ("cross", "invert", "am")]
    result = CliRunner().invoke(main, ["report", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'index.html'}" in result.output
    facts = check_page(out / "index.html")
    assert any(i["src"].startswith("../") for i in facts.images)
    text = (out / "index.html").read_text()
    assert text.count('<section id="run-') == 3 and "cfgan report: 3 runs" in text


def test_report_refuses_what_it_cannot_do_and_names_the_argument(report_runs, tmp_path):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    result = CliRunner().invoke(main, ["report", str(empty)])
    assert result.exit_code == 1 and f"RUN_DIR {empty} is not a cfgan run folder" in result.output
    result = CliRunner().invoke(main, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "RUN_DIR" in result.output
    cross, invert = str(report_runs["cross"]), str(report_runs["invert"])
    result = CliRunner().invoke(main, ["report", cross, invert])
    assert result.exit_code == 1 and "--out: a report of several runs needs a folder" in result.output
    result = CliRunner().invoke(main, ["report", cross, cross, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "the same run folder is given twice" in result.output
    foreign = tmp_path / "site"
    foreign.mkdir()
    (foreign / "index.html").write_text("<p>someone's page</p>")
    result = CliRunner().invoke(main, ["report", cross, "--out", str(foreign)])
    assert result.exit_code == 1 and "was not written by cfgan report" in result.output
    assert (foreign / "index.html").read_text() == "<p>someone's page</p>"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "job.json").write_text("{not json")
    result = CliRunner().invoke(main, ["report", str(broken)])
    assert result.exit_code == 1 and f"RUN_DIR {broken}: cannot read job.json" in result.output


def test_report_without_a_final_summary_says_the_run_did_not_finish(report_runs, tmp_path):
    run = tmp_path / "killed"
    shutil.copytree(report_runs["cross"], run)
    (run / "summary.json").unlink()  # as after kill -9 before the first batch was summarised
    lines = (run / "items.jsonl").read_text().splitlines(keepends=True)
    (run / "items.jsonl").write_text(lines[0] + lines[1][:20])  # and a torn last line
    page = write_report([run])
    text = page.read_text()
    assert "This run is incomplete: it has not finished" in text and "1 of ? items are done" in text
    assert text.count('<div class="card" id="path-') == 1
    assert (run / "items.jsonl").read_text() == lines[0] + lines[1][:20], "the report only reads"
    check_page(page)


# -- commands the report has no section for ------------------------------------------------------------
class FakeSaliency(Job):
    """A command the report does not know: two pictures and a few numbers per item."""

    command = "fake-saliency"  # (cfgan saliency has a section of its own)

    def __init__(self, n: int = 3, stop_at=None):
        self.n, self.stop_at = n, stop_at

    def settings(self):
        return {"methods": ["grad", "fido"], "target": "<b>Coat</b>"}

    def count(self):
        return self.n

    def items(self):
        return (Item(f"image{i}", i, i) for i in range(self.n))

    def run(self, items, step_progress):
        if items[0].index == self.stop_at:
            raise KeyboardInterrupt
        return BatchOutput([item.payload for item in items])

    def write(self, item, output, folder):
        torch.manual_seed(output)
        save_image(torch.rand(1, 12, 12) * 2 - 1, folder / "input.png")
        save_image(torch.rand(1, 12, 12) * 2 - 1, folder / "grad.png")
        return {"label": "<script>alert(1)</script>", "score": 0.25 * output, "methods": ["grad"]}


def test_unknown_command_gets_settings_items_and_pictures(tmp_path):
    report = run_job(FakeSaliency(), tmp_path / "sal", report=True)
    assert report.page == tmp_path / "sal" / "index.html"
    facts = check_page(report.page)
    text = report.page.read_text()
    assert len([i for i in facts.images if i["src"].endswith("/grad.png")]) == 3
    assert all(i["caption"] in ("input.png", "grad.png") for i in facts.images)
    assert "<dt>target</dt><dd>&lt;b&gt;Coat&lt;/b&gt;</dd>" in text  # escaped, never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in text
    assert '<td class="num" data-v="0.5">0.5</td>' in text  # sortable by value


def test_interrupted_run_report_says_so_and_matches_cfgan_report(tmp_path):
    out = tmp_path / "sal"
    report = run_job(FakeSaliency(stop_at=1), out, report=True)
    assert report.interrupted and report.page is not None
    text = report.page.read_text()
    assert "This run is incomplete: it was interrupted; 1 of 3 items are done" in text
    assert 'badge bad">incomplete' in text
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0 and "1 of 3 items done (incomplete" in result.output
    assert report.page.read_text() == text, "cfgan report writes the very page the run wrote"


def test_a_command_can_plug_in_its_own_section(tmp_path, monkeypatch):
    monkeypatch.setattr("cfgan.report.sections._REGISTRY", dict(_REGISTRY))

    @register("fake-saliency", "Saliency maps", "Where each method says the classifier looked.")
    def saliency(run, page):
        figs = [page.images.figure(run.item_folder(item) / "grad.png", f"gradient map of {item['key']}",
                                   f"gradient, {item['key']}", box=96, pixel=True) for item in run.items]
        return f'<div class="row" id="maps">{"".join(figs)}</div>'

    report = run_job(FakeSaliency(n=2), tmp_path / "sal", report=True)
    text = report.page.read_text()
    assert "<h2" in text and "Saliency maps</h2>" in text and 'id="maps"' in text
    facts = check_page(report.page)
    assert [int(i["width"]) for i in facts.images] == [96, 96]  # 12 px maps, 8 times


def test_no_report_option_writes_no_page(report_runs, tmp_path, saved_generator):
    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["generate", "-g", saved_generator(32), "--seeds", "0-1", "--no-report",
                                       "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0 and not (out / "index.html").exists() and "report:" not in result.output
