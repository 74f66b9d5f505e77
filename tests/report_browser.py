"""Open a report in headless Chromium (selenium + chromedriver) and check what a person would see.

Used by the browser tests, and by hand to take the README's screenshots:

    python tests/report_browser.py cfgan-demo/index.html docs/   # writes report-1280.png, report-390.png

``missing()`` says why no browser can run here (the tests skip with that reason); ``inspect_page`` loads a
page at each width and returns what loaded, what was requested, whether the page is wider than the screen,
and where the full-page screenshots are.
"""
from __future__ import annotations

import base64
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def _browser() -> Optional[str]:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def missing() -> Optional[str]:
    """None when a headless browser can run here, else why not (for pytest.skip)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _browser() is None:
        return "no Chromium here (Debian/Ubuntu: apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "no chromedriver here (Debian/Ubuntu: apt-get install chromium-driver)"
    return None


def start():
    """A headless Chromium driven by chromedriver, logging every network request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.binary_location = _browser()
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def _requests(driver) -> Dict[str, dict]:
    """requestId -> {url, failed} from the performance log since the last call."""
    out: Dict[str, dict] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            out.setdefault(params["requestId"], {"failed": None})["url"] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            out.setdefault(params["requestId"], {"url": None})["failed"] = params.get("errorText")
    return out


PAGE_FACTS = """
const imgs = Array.from(document.images);
const videos = Array.from(document.querySelectorAll('video'));
return {
  images: imgs.length,
  broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 120)),
  videos: videos.map(v => ({src: v.getAttribute('src'), readyState: v.readyState,
                            error: v.error ? v.error.code : null})),
  resources: performance.getEntriesByType('resource').map(e => e.name),
  scrollWidth: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  sliders: document.querySelectorAll('.player input[type=range]:not([hidden])').length,
};
"""


def _settle(driver, timeout: float = 10.0) -> None:
    """Wait until the page, its images and its videos' metadata have loaded (or failed)."""
    end = time.time() + timeout
    while time.time() < end:
        ready = driver.execute_script(
            "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
            " && Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 2 || v.error)")
        if ready:
            return
        time.sleep(0.1)


def screenshot(driver, path: Path, width: int, height: Optional[int] = None) -> Path:
    """The whole page (or its top ``height`` pixels) at ``width`` CSS pixels, as PNG. The screen is made as
    tall as the page first, so everything (videos too) is painted as a person scrolling would see it."""
    full = driver.execute_script("return document.documentElement.scrollHeight")
    shown = min(full, height or full)
    set_width(driver, width, shown)
    time.sleep(1.0)
    clip = {"x": 0, "y": 0, "width": width, "height": shown, "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                             "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
    set_width(driver, width)
    return path


def set_width(driver, width: int, height: int = 900) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def inspect_page(driver, page: Path, shots: Path, widths: Sequence[int] = (1280, 390), scripts: bool = True,
                 name: str = "report") -> List[dict]:
    """Load ``page`` at each width (with or without JavaScript); per width: the facts of PAGE_FACTS, the
    network requests that were not local files, the failed ones, and the screenshot's path."""
    results = []
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not scripts})
    for width in widths:
        set_width(driver, width)
        _requests(driver)  # drop what earlier loads logged
        driver.get(page.resolve().as_uri())
        _settle(driver)
        facts = driver.execute_script(PAGE_FACTS)
        requests = _requests(driver)
        facts["width"] = width
        facts["remote"] = sorted({r["url"] for r in requests.values()
                                  if r.get("url") and not r["url"].startswith(LOCAL_SCHEMES)})
        facts["remote"] += sorted({u for u in facts["resources"] if not u.startswith(LOCAL_SCHEMES)})
        facts["failed"] = sorted(f"{r.get('url')}: {r['failed']}" for r in requests.values() if r.get("failed"))
        facts["requests"] = len(requests)
        facts["screenshot"] = str(screenshot(driver, shots / f"{name}-{width}{'' if scripts else '-nojs'}.png",
                                             width))
        results.append(facts)
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    return results


def main(argv: List[str]) -> int:
    """``report_browser.py PAGE OUT_DIR [HEIGHT]``: README screenshots (top HEIGHT px, default 1500)."""
    page, out = Path(argv[0]), Path(argv[1])
    height = int(argv[2]) if len(argv) > 2 else 1500
    out.mkdir(parents=True, exist_ok=True)
    driver = start()
    try:
        for facts in inspect_page(driver, page, out):
            print({k: v for k, v in facts.items() if k != "resources"})
            set_width(driver, facts["width"])
            driver.get(page.resolve().as_uri())
            _settle(driver)
            shot = screenshot(driver, out / f"report-{facts['width']}.png", facts["width"],
                              height if facts["width"] > 600 else int(height * 1.6))
            print("wrote", shot)
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
