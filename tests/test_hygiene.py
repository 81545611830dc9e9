"""Project hygiene: notebooks committed clean and complete, pins consistent, no TensorFlow on import."""

import json
import re
import subprocess
import sys

import nbformat
import pytest

from course_lib.config import PROJECT_ROOT
from course_lib.doctor import read_pins

NOTEBOOKS = PROJECT_ROOT / "notebooks"
#: The chapters written so far, in course order.
CHAPTERS = [
    "00_start_here",
    "01_tensors",
    "02_autograd",
    "03_activations",
    "04_losses",
    "05_optimizers",
    "06_mlp",
    "07_cnn",
    "08_rnn",
    "09_vae",
    "10_save_load",
]
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def _code(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _read(path):
    return nbformat.read(path, as_version=4)


def test_every_chapter_is_present_and_nothing_else():
    assert [path.stem for path in ALL] == CHAPTERS


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    dirty = [i for i, cell in enumerate(_code(nb)) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them before committing"
    assert "jupytext" not in json.loads(path.read_text(encoding="utf-8"))["metadata"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_follows_the_chapter_conventions(path):
    nb = _read(path)
    code = "\n".join(cell.source for cell in _code(nb))
    text = "\n".join(cell.source for cell in nb.cells)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ")
    assert "seed_everything(" in code, "every chapter seeds at the top"
    assert "os.environ" not in code, "notebooks ask course_lib (fast_or_full, is_fast), never os.environ"
    assert not re.search(r"^\s*(import tensorflow|from tensorflow)", code, re.M), (
        "import TensorFlow via load_tensorflow()"
    )
    assert not re.search(r"class \w+\((torch\.utils\.data\.)?Dataset\)", code), "Dataset classes belong in course_lib"
    assert not re.search(r"\b(TODO|TBD|FIXME)\b", text)
    assert re.search(r"[\u4e00-\u9fff]", text), "key terms carry their Chinese names"
    assert "course_lib.widgets" in code or "from course_lib import widgets" in code, "each chapter has an explorer"
    assert re.search(r"^#+ .*Summary", text, re.M | re.I), "each chapter ends with a summary"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_course_lib_is_imported_before_torch(path):
    """course_lib sets OMP_WAIT_POLICY=PASSIVE, which PyTorch reads only when it loads: a learner's own
    `jupyter lab` gets the setting only if the first thing a chapter imports is course_lib."""
    first_code = _code(_read(path))[0].source
    first_statement = next(line for line in first_code.splitlines() if line.strip() and not line.startswith("#"))
    assert first_statement.split("#")[0].strip() == "import course_lib", (
        f"{path.name}: the first code cell must start with `import course_lib` (before torch), not {first_statement!r}"
    )


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_solution_cell_follows_a_stub_with_the_same_checker(path):
    cells = _read(path).cells
    solutions = [i for i, cell in enumerate(cells) if "solution" in cell.metadata.get("tags", [])]
    if path.stem == "00_start_here" and not solutions:
        return
    assert solutions, f"{path.name} has no exercises with a solution cell"
    for i in solutions:
        checks = re.findall(r"(\w+\.check_\w+)\(", cells[i].source)
        assert checks, f"{path.name} cell {i}: a solution cell must call its checker"
        before = "\n".join(
            cell.source for cell in cells[max(0, i - 3) : i] if "solution" not in cell.metadata.get("tags", [])
        )
        assert checks[-1] in before, f"{path.name} cell {i}: the learner's stub above must call {checks[-1]} too"


def test_course_lib_imports_without_tensorflow():
    code = (
        "import sys, course_lib, course_lib.data, course_lib.train, course_lib.plots, course_lib.doctor; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_binder_pins_equal_requirements():
    ours = read_pins(PROJECT_ROOT / "requirements.txt")
    binder = read_pins(PROJECT_ROOT / "binder" / "requirements.txt")
    binder["tensorflow"] = binder.pop("tensorflow-cpu")
    assert {name: version.split("+")[0] for name, version in binder.items()} == ours
    assert binder["torch"].endswith("+cpu") and binder["torchvision"].endswith("+cpu")


def test_required_packages_are_pinned():
    pins = read_pins()
    for name in (
        "jupyterlab",
        "torch",
        "torchvision",
        "tensorflow",
        "matplotlib",
        "ipywidgets",
        "nbval",
        "numpy",
        "tqdm",
        "scikit-learn",
        "pytest",
    ):
        assert name in pins, f"{name} is not pinned in requirements.txt"


def test_every_registered_pytest_marker_is_used():
    """A marker nobody uses is dead configuration (the `slow` marker once was): use it or drop it."""
    block = re.search(
        r"^markers = \[(.*?)^\]", (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M | re.S
    )
    markers = re.findall(r'^\s*"(\w+):', block.group(1), re.M) if block else []
    assert "slow" in markers  # `pytest -m "not slow"` skips the tests that take many seconds each
    tests = "\n".join(path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "tests").glob("*.py"))
    for marker in markers:
        assert f"@pytest.mark.{marker}" in tests, f"the pytest marker {marker!r} is registered but no test uses it"
