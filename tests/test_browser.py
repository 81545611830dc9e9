"""A real browser (headless Chromium) opens JupyterLab, runs an explorer, and sees it drawn and redrawn.

Everything else tests widgets without a front end; this checks what a learner sees: that the widget
JavaScript of ipywidgets is installed and matched to the Python side, that the explorer's controls appear,
that its matplotlib figure appears inside it, and that moving a control redraws the figure.
Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them); skipped where they are missing.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Skipped on a learner's machine without them; CI sets COURSE_REQUIRE_BROWSER=1, so there it fails instead.
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER) and not REQUIRED,
                                reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")

TOKEN = "course-browser-test"
NOTEBOOK_CELLS = [
    "from course_lib.widgets.optimizer_race import optimizer_race_explorer\n"
    "explorer = optimizer_race_explorer()\n"
    "explorer",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(NOTEBOOK_CELLS)]
    notebook = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port, serving a folder with one notebook; stopped afterwards."""
    _write_notebook(tmp_path / "explorer.ipynb")
    port = _free_port()
    log = open(tmp_path / "lab.log", "w")
    # As a learner's kernel: conftest.py sets MPLBACKEND=Agg for the tests, which would leave figures as text.
    env = {name: value for name, value in os.environ.items() if name != "MPLBACKEND"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--ServerApp.token={TOKEN}",
         f"--ServerApp.root_dir={tmp_path}", "--ServerApp.open_browser=False", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("JupyterLab exited: " + (tmp_path / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser():
    assert CHROMIUM and CHROMEDRIVER, "COURSE_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait_for(driver, css: str, timeout: float, what: str, lab_dir: Path):
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        if found:
            return found
        time.sleep(0.5)
    driver.save_screenshot(str(lab_dir / "failure.png"))
    pytest.fail(f"{what} did not appear within {timeout:.0f} s (screenshot: {lab_dir / 'failure.png'}; "
                f"server log tail: {(lab_dir / 'lab.log').read_text()[-1500:]})")


def test_an_explorer_renders_and_redraws_in_jupyterlab(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, lab_dir = lab
    browser.get(f"{url}/lab/tree/explorer.ipynb?token={TOKEN}")
    _wait_for(browser, ".jp-Notebook .jp-Cell .cm-content", 90, "the notebook's first cell", lab_dir)
    _wait_for(browser, ".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Toolbar-kernelStatus",
              60, "the kernel status", lab_dir)
    time.sleep(3)  # let the kernel finish starting
    cell = browser.find_element(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content")
    cell.click()
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()

    # ipywidgets' front end draws the controls (an error box would appear instead if its JavaScript were
    # missing or did not match the Python package)...
    sliders = _wait_for(browser, ".jp-OutputArea .widget-slider, .jp-OutputArea .jupyter-widgets.widget-slider",
                        120, "the explorer's sliders", lab_dir)
    assert sliders
    # ...and the Output widget inside it shows the matplotlib figure.
    images = _wait_for(browser, ".jp-OutputArea .widget-output img", 120, "the explorer's figure", lab_dir)
    first = images[0].get_attribute("src")
    assert first.startswith("data:image/png")
    errors = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert not any("Error" in e.text for e in errors), [e.text for e in errors]

    # Moving a slider (keyboard: focus its handle, press the right arrow) must redraw the figure.
    handle = browser.find_element(By.CSS_SELECTOR, ".jp-OutputArea .widget-slider .noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    deadline = time.time() + 60
    while time.time() < deadline:
        images = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-output img")
        if images and images[0].get_attribute("src") != first:
            break
        time.sleep(0.5)
    else:
        browser.save_screenshot(str(lab_dir / "failure.png"))
        pytest.fail(f"the figure was not redrawn after moving a slider (screenshot: {lab_dir / 'failure.png'})")
