"""report.html looked at as a person would: rendered by headless Chromium, every image loaded.

Skipped when Chromium is absent (Debian/Ubuntu: `apt-get install chromium`).
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install chromium")
WIDTH, HEIGHT = 1280, 2400
# Marks every image in the DOM as loaded or broken once the page has loaded.
PROBE = ('<script>addEventListener("load", () => { document.body.dataset.images = [...document.images]'
         '.map(i => i.complete && i.naturalWidth > 0 ? "ok" : "broken").join(","); });</script></body>')


def chromium(profile, *args) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def test_every_image_loads(tiny_run, tmp_path):
    folder, report = tiny_run
    page = tmp_path / "probe.html"
    page.write_text((folder / "report.html").read_text().replace("</body>", PROBE))
    dom = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    loaded = re.search(r'data-images="([^"]*)"', dom).group(1).split(",")
    assert loaded == ["ok"] * len(report["plots"])


def test_screenshot_shows_the_verdict_on_top_and_the_page_is_not_blank(tiny_run, tmp_path):
    folder, report = tiny_run
    shot = tmp_path / "report.png"
    chromium(tmp_path / "profile", "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}",
             (folder / "report.html").as_uri())
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    banner = np.array([0xDA, 0xFB, 0xE1]) if report["selection"]["chosen"] else np.array([0xFF, 0xEB, 0xE9])
    top = (np.abs(pixels[:200] * 255 - banner) < 3).all(axis=-1)
    assert top.sum() > 100 * 200, "the verdict banner is not in the first 200 pixels"
    assert (pixels < 0.9).any(axis=-1).mean() > 0.05, "the page is mostly blank"
