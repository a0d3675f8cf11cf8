"""report.html opens in headless Chromium (Debian package `chromium`) and renders a non-blank page."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium: apt-get install -y chromium (Debian package)")
def test_html_report_renders_to_a_non_blank_screenshot(effect_campaign, tmp_path):
    root, _ = effect_campaign
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
           (root / "analysis" / "report.html").resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "Chromium wrote no screenshot"
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 3000)
    px = np.asarray(img.resize((300, 750))).reshape(-1, 3).astype(int)
    non_white = np.mean(px.sum(axis=1) < 720)
    colours = len(np.unique(px, axis=0))
    # Text, tables and the embedded figures (the red arm's marks) must be on the page.
    assert non_white > 0.03 and colours > 50
    assert np.any((px[:, 0] > 150) & (px[:, 1] < 100) & (px[:, 2] < 100))
