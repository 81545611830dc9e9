"""The exercises of notebooks 00-10 as a grader sees them: each chapter's registry matches the checker calls in
its notebook, every official solution passes its checker (run here in-process, the quick twin of the nbval run),
and no answer of the wrong kind makes a checker fail in an unforeseen way."""

import ast
import importlib
import json
import re

import pytest
import torch
from test_hygiene import CHAPTERS

from course_lib.config import PROJECT_ROOT
from course_lib.exercises.core import FAILED, NOT_ATTEMPTED, PASSED, Exercise, run_checker

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[01][0-9]_*.ipynb"))
#: Each chapter's exercise module: ch<notebook stem>.
EXERCISE_MODULES = [f"ch{stem}" for stem in CHAPTERS]


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _code(cell):
    return "".join(cell["source"])


def _chapter_module(path):
    code = "\n".join(_code(cell) for cell in _cells(path) if cell["cell_type"] == "code")
    name = re.search(r"from course_lib\.exercises import (\w+) as ex\b", code).group(1)
    return importlib.import_module(f"course_lib.exercises.{name}")


def _checker_calls(path):
    """(checker name, names of the variables passed) for every ex.check_*(...) call, in notebook order."""
    calls = []
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_code(cell))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "ex"
                and node.func.attr.startswith("check_")
            ):
                assert all(isinstance(arg, ast.Name) for arg in node.args) and not node.keywords, (
                    f"{path.name}: {node.func.attr} must be called with plain variable names, for a grader"
                )
                calls.append((node.func.attr, tuple(arg.id for arg in node.args)))
    return calls


def test_every_chapter_00_to_10_has_a_notebook():
    assert [p.stem for p in NOTEBOOKS] == CHAPTERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_registry_lists_every_checker_call_in_notebook_order(path):
    module = _chapter_module(path)
    registry = module.EXERCISES
    assert all(isinstance(entry, Exercise) for entry in registry)
    assert len({entry.id for entry in registry}) == len(registry), "exercise ids are unique in a chapter"
    in_registry = [(entry.checker.__name__, entry.names) for entry in registry]
    in_notebook = list(dict.fromkeys(_checker_calls(path)))  # first appearance of each call, in order
    assert in_notebook == in_registry
    for entry in registry:
        assert entry.title == entry.checker.title and getattr(module, entry.checker.__name__) is entry.checker


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_official_solution_passes_its_checker(path, capsys):
    """The solution cells, each after the import statements of the cells above it (nothing that trains), in
    notebook order: strict mode raises on a failure, and the registry's names, read from what the cells defined,
    grade as passed."""
    cells = [cell for cell in _cells(path) if cell["cell_type"] == "code"]
    last = max(i for i, cell in enumerate(cells) if "solution" in cell["metadata"].get("tags", []))
    namespace: dict = {}
    for cell in cells[: last + 1]:
        if "solution" in cell["metadata"].get("tags", []):
            code = ast.parse(_code(cell))
        else:
            code = ast.Module(
                body=[node for node in ast.parse(_code(cell)).body if isinstance(node, (ast.Import, ast.ImportFrom))],
                type_ignores=[],
            )
        exec(compile(code, path.stem, "exec"), namespace)
    assert "❌" not in capsys.readouterr().out
    for entry in _chapter_module(path).EXERCISES:
        result = run_checker(entry.checker, *(namespace[name] for name in entry.names))
        assert result.status == PASSED, (entry.id, result.message)


def _wrong_kinds():
    nan = float("nan")
    values = [
        None,
        "6",
        nan,
        True,
        object(),
        [1, 2],
        {"a": 1},
        torch.tensor([1.0, 2.0]),
        torch.tensor(nan),
        torch.full((3, 3), nan),
        torch.zeros(0),
    ]
    functions = [
        lambda *a: None,
        lambda *a: "6",
        lambda *a: nan,
        lambda *a: torch.tensor(nan),
        lambda *a: object(),
        lambda *a: [1, 2],
        lambda *a: (torch.zeros(1), "x"),
        lambda *a: 1 / 0,
        lambda: 1,
        lambda *a: a[0] if a else None,
    ]
    return values + functions


EVERY_EXERCISE = [
    (chapter, entry)
    for chapter in EXERCISE_MODULES
    for entry in importlib.import_module(f"course_lib.exercises.{chapter}").EXERCISES
]


@pytest.mark.parametrize("chapter, entry", EVERY_EXERCISE, ids=lambda v: v.id if isinstance(v, Exercise) else v)
def test_an_answer_of_the_wrong_kind_gets_a_sentence_about_the_answer(chapter, entry, monkeypatch):
    """None, text, NaN, a bool, lists, tensors of the wrong shape, functions that return junk or raise: each is
    failed with a message the checker wrote (never 'the checker could not use your answer'), never passed."""
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")  # run_checker must not raise even then
    for wrong in _wrong_kinds():
        result = run_checker(entry.checker, *([wrong] * len(entry.names)))
        assert result.status in (FAILED, NOT_ATTEMPTED), (entry.id, wrong, result)
        assert "the checker could not use your answer" not in result.message, (entry.id, wrong, result.message)
        assert "Traceback" not in result.message


def test_in_a_real_kernel_an_error_names_the_learners_own_line():
    """Notebook cells live in files IPython makes up; the learner's line must still be found and shown."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "import os\nos.environ['COURSE_STRICT_EXERCISES'] = '0'\nimport torch\n"
        "from course_lib.exercises import ch03_activations as ex",
        "def softmax(x):\n    e = torch.exp(x)\n    return e / e.sum(dim=-1)\n\n\nex.check_softmax(softmax)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    text = "".join(output.get("text", "") for output in nb.cells[1].outputs)
    assert text.startswith("❌ A softmax that does not overflow: softmax(x: (4, 5) float32 tensor) raised RuntimeError")
    assert "(in your line `return e / e.sum(dim=-1)`)" in text and "keepdim=True" in text
    assert not any(output["output_type"] == "error" for output in nb.cells[1].outputs)  # no traceback
