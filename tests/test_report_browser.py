"""The report in a real browser: headless Chromium (selenium + chromedriver) opens it from disk.

Checked at laptop (1280 px) and phone (390 px) width, with and without JavaScript: every image and video
loaded, nothing was requested from the network and no request failed, the page is not wider than the
screen, and a full-page screenshot was taken. With JavaScript, the frame slider, the sortable columns and the
class-pair filter work. Skipped, with the reason, where Chromium, chromedriver or selenium is missing
(``.ci/run`` installs them).
"""
from pathlib import Path

import pytest
from click.testing import CliRunner

from cfgan.cli import main
from cfgan.report.images import image_size

import report_browser

pytestmark = pytest.mark.skipif(report_browser.missing() is not None, reason=str(report_browser.missing()))


@pytest.fixture(scope="module")
def browser():
    driver = report_browser.start()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(report_runs, tmp_path_factory):
    """One report of a cross, an invert and an am run (every kind of section and picture)."""
    out = tmp_path_factory.mktemp("report_page")
    runs = [str(report_runs[k]) for k in ("cross", "invert", "am")]
    result = CliRunner().invoke(main, ["report", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "index.html"


def check_loads(results, page: Path, scripts: bool, capsys, what: str = "report"):
    """The facts ``inspect_page`` found at each width, checked; one line each printed to the log."""
    players = page.read_text().count('<figure class="player"')
    for facts in results:
        width = facts["width"]
        with capsys.disabled():
            ready = [v["readyState"] for v in facts["videos"]]
            print(f"\n[browser] {what} at {width} px{'' if scripts else ', JavaScript off'}: {facts['images']} "
                  f"images (broken: {len(facts['broken'])}), videos ready {ready}, "
                  f"{facts['requests']} requests (remote: {len(facts['remote'])}, failed: {len(facts['failed'])}), "
                  f"page width {facts['scrollWidth']}, screenshot {facts['screenshot']}")
        assert facts["images"] > 0 and facts["broken"] == [], facts["broken"]
        # H.264 plays in Debian's Chromium; a browser without it still has the frames, filmstrip and GIF
        assert facts["videos"] and all(v["readyState"] >= 1 and v["error"] is None for v in facts["videos"]), \
            facts["videos"]
        assert facts["remote"] == [], f"fetched from the network: {facts['remote']}"
        assert facts["failed"] == [], f"failed requests: {facts['failed']}"
        assert facts["scrollWidth"] <= width, f"the page is {facts['scrollWidth']} px wide on a {width} px screen"
        shot = Path(facts["screenshot"])
        assert shot.stat().st_size > 1000 and image_size(shot)[0] == width
        assert players > 0 and facts["sliders"] == (players if scripts else 0)


def test_report_loads_everything_locally_at_laptop_and_phone_width(browser, page, tmp_path, capsys):
    check_loads(report_browser.inspect_page(browser, page, tmp_path), page, True, capsys)


def test_report_without_javascript_shows_everything_but_the_controls(browser, page, tmp_path, capsys):
    results = report_browser.inspect_page(browser, page, tmp_path, widths=(390,), scripts=False)
    check_loads(results, page, False, capsys)


def test_slider_sort_and_filter_work(browser, page):
    report_browser.set_width(browser, 1280)
    browser.get(page.resolve().as_uri())
    # the slider shows the chosen frame and says which it is
    slider = browser.find_element("css selector", ".player input[type=range]")
    browser.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'));", slider)
    state = browser.execute_script("""
        const p = document.querySelector('.player'), img = p.querySelector('img');
        return new Promise(done => {
          const check = () => img.complete ? done([img.getAttribute('src'), img.naturalWidth,
                                                   p.querySelector('output').textContent,
                                                   p.querySelector('circle.pt.on').getAttribute('cx')]) :
                                             setTimeout(check, 20);
          check();
        });""")
    assert state[0].endswith("frames/frame_000.png") and state[1] > 0 and state[2].startswith("frame 0 of 4")
    first_x = float(browser.find_element("css selector", ".player circle.pt").get_attribute("cx"))
    assert float(state[3]) == first_x
    # a click on a filmstrip frame shows that frame
    browser.find_elements("css selector", ".card ol.frames li")[3].click()
    assert slider.get_attribute("value") == "3"
    assert browser.find_element("css selector", ".player output").text.startswith("frame 3 of 4")
    assert "on" in browser.find_elements("css selector", ".card ol.frames li")[3].get_attribute("class")
    # sorting by p start, both ways
    column = browser.execute_script("""
        return Array.from(document.querySelectorAll('#paths-table th'))
                    .findIndex(th => th.textContent === 'p start');""")
    button = browser.find_elements("css selector", "#paths-table th button")[column]

    def column_values():
        return browser.execute_script(f"""
            return Array.from(document.querySelectorAll('#paths-table tbody tr'))
                        .map(r => parseFloat(r.cells[{column}].getAttribute('data-v')));""")

    button.click()
    assert column_values() == sorted(column_values())
    button.click()
    assert column_values() == sorted(column_values(), reverse=True)
    # the class-pair filter hides other pairs' rows and cards (this page has one pair: all stay)
    pairs = browser.execute_script("""
        const sel = document.querySelector('select[data-filter]');
        sel.value = sel.options[1].value; sel.dispatchEvent(new Event('change'));
        return [sel.value, document.querySelectorAll('tr[data-pair]:not([hidden])').length,
                document.querySelectorAll('tr[data-pair]').length];""")
    assert pairs[0] == "0 → 1" and pairs[1] == pairs[2] == 2
    hidden = browser.execute_script("""
        const sel = document.querySelector('select[data-filter]');
        const o = document.createElement('option'); o.value = 'Coat → Bag'; sel.appendChild(o);
        sel.value = 'Coat → Bag'; sel.dispatchEvent(new Event('change'));
        return [document.querySelectorAll('tr[data-pair]:not([hidden])').length,
                document.querySelectorAll('.card[data-pair]:not([hidden])').length];""")
    assert hidden == [0, 0]
