"""A real browser (headless Chromium) opens JupyterLab and plays with every chapter's explorer.

Everything else tests widgets without a front end; this checks what a learner sees: that the widget
JavaScript of ipywidgets is installed and matched to the Python side, that each explorer's controls and
its figure or text appear, that moving each kind of control it has (slider, dropdown, checkbox, button,
text box) once changes what it shows, and that no error appears, neither in the cell nor in a widget
callback (which JupyterLab would only show in its log console).

The explorers are found as tests/test_explorers_under_nbclient.py finds them (a code cell whose last line
calls ``*_explorer(``), so a new chapter's explorer is tested as soon as its notebook lands. Each becomes
one cell of a generated notebook: its chapter's first (import) cell, the chapter's earlier import lines,
the small stand-in data and model that test uses (``SETUP``, ``MODEL_FOR``: add a chapter's there if its
explorer needs more), then the explorer cell itself. One JupyterLab server, one browser and one kernel
serve every explorer; each is one test, so a failure names the explorer. The ten explorers of chapters
00-07 took 2 to 4.5 minutes in all on 2 cores shared with other work (load average 5 to 12).

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them); skipped where they are missing.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_explorers_under_nbclient import MODEL_FOR, NOTEBOOKS, SETUP, explorer_cells, import_cell

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Skipped on a learner's machine without them; CI sets COURSE_REQUIRE_BROWSER=1, so there it fails instead.
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not REQUIRED,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)

TOKEN = "course-browser-test"
NOTEBOOK = "explorers.ipynb"
KERNEL_ERRORS = "kernel_errors.log"  # what the kernel logged while handling the widgets' messages
FIRST_DRAW_S = 120  # an explorer's first figure, on a busy 2-core machine
REDRAW_S = 60  # a redraw after one control moved

# Cell 0 of the generated notebook. ipywidgets runs a control's callback while handling the front end's
# message; an exception there never reaches the cell: ipywidgets hands it to IPython's showtraceback, whose
# error JupyterLab shows only in its log console (and the comm layer logs its own, logger "Comm"). Both are
# written to a file the test reads.
RECORD_KERNEL_ERRORS = f"""\
import course_lib
import logging
import sys
import threading
import traceback

def _write_error(text):
    with open({KERNEL_ERRORS!r}, "a") as file:
        file.write(text + "\\n")

class _WriteErrors(logging.Handler):
    def emit(self, record):
        _write_error(self.format(record))

logging.getLogger("Comm").addHandler(_WriteErrors(level=logging.ERROR))
_show_traceback = get_ipython().showtraceback

def _record_traceback(exc_tuple=None, *args, **kwargs):
    _write_error(f"in thread {{threading.current_thread().name}}:\\n"
                 + "".join(traceback.format_exception(*(exc_tuple or sys.exc_info()))))
    return _show_traceback(exc_tuple, *args, **kwargs)

get_ipython().showtraceback = _record_traceback
"""

# Each kind of control, as ipywidgets 8 draws it. A slider moves with its handle's arrow keys, a dropdown
# takes another option, a checkbox and a button are clicked, a text box gets a new value and Enter.
CONTROLS = {
    "slider": ".widget-slider .noUi-handle",
    "checkbox": ".widget-checkbox input[type=checkbox]",
    "button": "button.jupyter-button:not(.mod-active)",  # Button, ToggleButton, an unselected ToggleButtons option
    "text box": ".widget-text input, .widget-textarea textarea",
    "dropdown": ".widget-dropdown select",  # last: it may rebuild the other controls (computation_graph)
}

# What an explorer shows, reduced to a short string: its images (hashed) and the text of its Output and HTML
# widgets. The controls' own readouts are left out: a control that moves but redraws nothing must fail.
FINGERPRINT_JS = """
const node = arguments[0];
const hash = (s) => { let h = 0; for (let i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) | 0; } return h; };
const images = [...node.querySelectorAll('.widget-output img, .widget-image')].map((img) => img.src || '');
const texts = [...node.querySelectorAll('.widget-output, .widget-html-content')].map((el) => el.innerText.trim());
const shown = images.length + texts.filter((t) => t).length;
return shown ? images.length + ' images ' + images.map(hash).join(',') + ' | ' + texts.join(' | ') : '';
"""
ERRORS_JS = """
const node = arguments[0];
const found = [];
node.querySelectorAll('.jp-OutputArea-output').forEach((out) => {
  const text = out.innerText || '';
  const mime = out.getAttribute('data-mime-type') || '';
  if ((mime.includes('stderr') && /Traceback|Error/.test(text)) || /Error (displaying|rendering) widget/.test(text)) {
    found.push(text.slice(-3000));
  }
});
return found;
"""


def _earlier_imports(path: Path, source: str) -> list[str]:
    """The import statements, in cells before ``source`` in the notebook at ``path``, of names ``source`` uses.

    A chapter may import an explorer a few cells before it shows it (01 imports broadcasting_explorer so);
    the generated cell repeats those lines so that it runs on its own. Only those: a chapter's other imports
    can depend on what ran between them (05's ``import keras`` after ``load_tensorflow()``: bare, it loads
    TensorFlow before Triton and the kernel crashes at the next torch optimizer step).
    """
    used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    lines = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.source == source:
            break
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # a cell with IPython magics: no imports taken from it
            continue
        lines += [
            ast.get_source_segment(cell.source, node)
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            and any((alias.asname or alias.name).split(".")[0] in used for alias in node.names)
        ]
    return lines


def _explorer_function(source: str) -> str:
    last = [line for line in source.splitlines() if line.strip()][-1]
    return last.split("(")[0].split(".")[-1].split("=")[-1].strip()


def explorers() -> list[tuple[str, str, str]]:
    """(test id, notebook stem, generated cell source) for every chapter's explorer cell."""
    found, seen = [], {}
    for stem, source in explorer_cells():
        path = NOTEBOOKS / f"{stem}.ipynb"
        first = import_cell(stem)
        imports = [line for line in dict.fromkeys(_earlier_imports(path, source)) if line not in first]
        parts = [
            f"# {stem}: its first cell, earlier imports and stand-in data, then its explorer cell",
            first,
            "\n".join(imports),
            MODEL_FOR.get(stem[:2], ""),
            source,
        ]
        name = f"{stem}-{_explorer_function(source)}"
        seen[name] = seen.get(name, 0) + 1
        found.append(
            (
                name if seen[name] == 1 else f"{name}-{seen[name]}",
                stem,
                "\n\n".join(part for part in parts if part.strip()),
            )
        )
    return found


EXPLORERS = explorers()


def _write_notebook(path: Path) -> None:
    sources = [RECORD_KERNEL_ERRORS + SETUP] + [source for _, _, source in EXPLORERS]
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(notebook, path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_lab_settings(folder: Path) -> None:
    """JupyterLab settings for the test: every cell in the page (no windowing), no news or update pop-ups."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for name, values in settings.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port, serving a folder with the generated notebook; stopped afterwards."""
    root = tmp_path_factory.mktemp("lab")
    _write_notebook(root / NOTEBOOK)
    _write_lab_settings(root / "user-settings")
    port = _free_port()
    log = open(root / "lab.log", "w")
    # As a learner's kernel: conftest.py sets MPLBACKEND=Agg for the tests, which would leave figures as text.
    env = {name: value for name, value in os.environ.items() if name != "MPLBACKEND"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            f"--ServerApp.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--allow-root",
            f"--LabApp.user_settings_dir={root / 'user-settings'}",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("JupyterLab exited: " + (root / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


class Page:
    """The generated notebook, open in headless Chromium, its first cell (the shared set-up) run."""

    READY_JS = "return window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status ?? null;"
    # Every kernel status JupyterLab reports, kept in the page: a crash shows as 'autorestarting' or 'dead'.
    WATCH_KERNEL_JS = (
        "window.courseKernelStatuses = [];"
        "window.jupyterapp.shell.currentWidget.sessionContext.statusChanged.connect("
        "(_, status) => window.courseKernelStatuses.push(status));"
    )
    DEATHS_JS = (
        "return (window.courseKernelStatuses || [])"
        ".filter((s) => ['autorestarting', 'restarting', 'dead'].includes(s)).length;"
    )

    def __init__(self, driver, root: Path):
        self.driver, self.root = driver, root
        self.deaths_seen = 0

    def fail(self, message: str) -> None:
        shot = self.root / "failure.png"
        self.driver.save_screenshot(str(shot))
        pytest.fail(f"{message}\n(screenshot: {shot}; server log: {self.root / 'lab.log'})", pytrace=False)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def kernel_errors(self) -> str:
        path = self.root / KERNEL_ERRORS
        return path.read_text() if path.exists() else ""

    def kernel_deaths(self) -> int:
        return self.js(self.DEATHS_JS)

    def wait_until_idle(self, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while self.js(self.READY_JS) != "idle":
            if time.time() > deadline:
                self.fail(
                    f"{what}: the kernel was not ready within {timeout:.0f} s (status {self.js(self.READY_JS)!r})"
                )
            time.sleep(0.5)

    def set_up(self) -> None:
        """Run the shared set-up cell (again after a kernel died: its restart forgot everything)."""
        for button in self.driver.find_elements("css selector", ".jp-Dialog .jp-mod-accept"):
            button.click()  # "The kernel ... appears to have died. It will restart automatically."
        self.wait_until_idle(120, "before the set-up cell")
        self.deaths_seen = self.kernel_deaths()
        self.run_cell(0)
        deadline = time.time() + 120
        while not self.executed(0):
            if time.time() > deadline:
                self.fail("the set-up cell did not finish within 120 s")
            time.sleep(0.5)
        if self.js(ERRORS_JS, self.cell(0)):
            self.fail("the set-up cell raised:\n" + "\n".join(self.js(ERRORS_JS, self.cell(0))))

    def run_cell(self, index: int) -> None:
        """Run cell ``index`` as Shift+Enter would (JupyterLab's own command) and do not wait for it."""
        self.js(
            "const panel = window.jupyterapp.shell.currentWidget;"
            "panel.content.activeCellIndex = arguments[0]; panel.content.deselectAll();"
            "window.jupyterapp.commands.execute('notebook:run-cell');",
            index,
        )

    def cell(self, index: int):
        return self.js("return window.jupyterapp.shell.currentWidget.content.widgets[arguments[0]].node;", index)

    def executed(self, index: int) -> bool:
        return self.js(
            "const panel = window.jupyterapp.shell.currentWidget;"
            "return panel.content.widgets[arguments[0]].model.executionCount !== null"
            " && panel.sessionContext.session.kernel.status === 'idle';",
            index,
        )


@pytest.fixture(scope="module")
def page(lab):
    assert CHROMIUM and CHROMEDRIVER, "COURSE_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    url, root = lab
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, read on failure
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        page = Page(driver, root)
        driver.get(f"{url}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        page.wait_until_idle(120, "opening the notebook")
        page.js(Page.WATCH_KERNEL_JS)
        page.set_up()
        yield page
    finally:
        driver.quit()


def _settled(page: Page, cell, shown: str) -> str:
    """What the explorer shows once it stops changing for a second (a redraw may come in parts: text, then figure)."""
    deadline = time.time() + 15
    while time.time() < deadline:
        time.sleep(1.0)
        now = page.js(FINGERPRINT_JS, cell)
        if now == shown:
            break
        shown = now
    return shown


def _wait_for_change(page: Page, cell, before: str, timeout: float, what: str, errors_before: str) -> str:
    """Wait until the explorer shows something other than ``before``; fail at once on an error."""
    deadline = time.time() + timeout
    while True:
        if page.kernel_deaths() > page.deaths_seen:
            page.fail(f"{what}: the kernel died (a crash, or out of memory); the server log says why")
        errors = page.js(ERRORS_JS, cell)
        if errors:
            page.fail(f"{what}: an error appeared in the cell:\n" + "\n".join(errors))
        logged = page.kernel_errors()[len(errors_before) :]
        if logged:
            page.fail(f"{what}: the kernel raised while handling the widget (a control's callback):\n{logged[-3000:]}")
        now = page.js(FINGERPRINT_JS, cell)
        if now and now != before:
            return _settled(page, cell, now)
        if time.time() > deadline:
            page.fail(
                f"{what}: nothing changed within {timeout:.0f} s"
                if before
                else f"{what}: no figure or text appeared within {timeout:.0f} s"
            )
        time.sleep(0.3)


def _move(page: Page, kind: str, control) -> str:
    """Move one control as a learner would; return what was done, for the failure message."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page.js("arguments[0].scrollIntoView({block: 'center'});", control)
    if kind == "slider":
        control.click()
        at_maximum = control.get_attribute("aria-valuenow") == control.get_attribute("aria-valuemax")
        control.send_keys(Keys.ARROW_LEFT if at_maximum else Keys.ARROW_RIGHT)
        return f"pressed {'←' if at_maximum else '→'} on a slider's handle"
    if kind == "dropdown":
        select = Select(control)
        options = select.options
        chosen = [option.is_selected() for option in options]
        index = len(options) - 1 if not chosen[-1] else 0
        select.select_by_index(index)
        return f"chose {options[index].text!r} in a dropdown"
    if kind in ("checkbox", "button"):
        control.click()
        return f"clicked a {kind}"
    value = control.get_attribute("value") or ""
    numbers = value.replace(" ", "").split(",")
    # A shape or list of whole numbers gets a new leading one (it still broadcasts); other text gets a letter.
    new = "2, " + value if value and all(part.isdigit() for part in numbers) else value + "a"
    control.clear()
    control.send_keys(new, Keys.TAB if control.tag_name == "textarea" else Keys.ENTER)
    return f"typed {new!r} into a text box"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(EXPLORERS)), ids=[name for name, _, _ in EXPLORERS])
def test_explorer_draws_and_every_kind_of_control_redraws_it(page, index):
    from selenium.webdriver.common.by import By

    name, stem, _ = EXPLORERS[index]
    cell_index = index + 1
    if page.kernel_deaths() > page.deaths_seen:  # an earlier explorer crashed the kernel: start afresh
        page.set_up()
    errors_before = page.kernel_errors()
    page.run_cell(cell_index)
    cell = page.cell(cell_index)
    # ipywidgets' front end draws the controls (an error box would appear instead if its JavaScript were
    # missing or did not match the Python package), and the explorer its figure or text.
    shown = _wait_for_change(page, cell, "", FIRST_DRAW_S, f"{name} (run in JupyterLab)", errors_before)
    deadline = time.time() + 30
    while not page.executed(cell_index):  # the cell's own run is over before its controls are moved
        if page.kernel_deaths() > page.deaths_seen:
            page.fail(f"{name}: the kernel died (a crash, or out of memory); the server log says why")
        if time.time() > deadline:
            page.fail(f"{name}: its cell still runs 30 s after the explorer appeared")
        time.sleep(0.3)

    moved = []
    for kind, css in CONTROLS.items():
        controls = [c for c in cell.find_elements(By.CSS_SELECTOR, css) if c.is_displayed() and c.is_enabled()]
        if not controls:
            continue
        # One move at a time, each once the kernel has finished the last redraw. (Moves that overlap redraws
        # can leave a stale figure on screen: seen with the optimizer race under load; not what this checks.)
        page.wait_until_idle(REDRAW_S, f"{name}: before moving a {kind}")
        shown = _settled(page, cell, page.js(FINGERPRINT_JS, cell))
        action = _move(page, kind, controls[0])
        shown = _wait_for_change(page, cell, shown, REDRAW_S, f"{name}: after it {action}", errors_before)
        moved.append(kind)
    assert moved, f"{name}: no control found (looked for {', '.join(CONTROLS)})"
    print(f"{name}: moved {', '.join(moved)}")
