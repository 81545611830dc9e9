"""The grader (python -m course_lib grade): it agrees with every chapter's student edition, carries answers out of a
kernel as data, and cannot be faked from inside a notebook. The class run grades real submissions (copies of
chapter 01's student edition, most trimmed to their exercise cells to keep this test short) in real kernels: one
grader run for the whole class, shared by the tests below."""

import csv
import json
import linecache
import os
import shutil
import subprocess
import sys

import pytest
import torch

from course_lib import grading_answers
from course_lib.config import PROJECT_ROOT
from course_lib.editions import strip_solutions
from course_lib.exercises.core import FAILED, NOT_ATTEMPTED, PASSED
from course_lib.grading import (
    Chapter,
    Row,
    _check_one,
    course_chapters,
    filled_student_edition,
    find_submissions,
    plan_captures,
    write_report,
)

CHAPTERS = course_chapters()


def _load(stem):
    return json.loads((PROJECT_ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))


def _source(cell):
    return "".join(cell["source"])


def _is_solution(cell):
    return "solution" in cell["metadata"].get("tags", [])


def _run_in_process(notebook):
    """Exec a notebook's imports and exercise cells as a kernel would (functions belong to __main__, their source in
    linecache); the namespace the learner's cells leave."""
    namespace = {"__name__": "__main__"}
    for number, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = _source(cell)
        if not cell["metadata"].get("exercise"):  # other cells: their imports only (nothing that trains)
            import ast

            imports = [
                ast.get_source_segment(source, node)
                for node in ast.parse(source).body
                if isinstance(node, (ast.Import, ast.ImportFrom))
            ]
            # not keras: TensorFlow loaded outside load_tensorflow() can crash a later torch optimizer (CONTRIBUTING)
            source = "\n".join(line for line in imports if "keras" not in line and "tensorflow" not in line)
        filename = f"<cell {number}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def _grade_in_process(chapter, namespace, tmp_path):
    """Carry each exercise's answers out as the kernel does (saved with torch.save), and check them as the checking
    process does (loaded with weights_only=True, rebuilt, run_checker)."""
    results = {}
    for entry in chapter.exercises():
        path = tmp_path / f"{entry.id}.pt"
        torch.save(grading_answers.encode_answers(namespace, list(entry.names)), path)
        results[entry.id] = _check_one(
            entry,
            path,
            grading_answers,
            __import__("course_lib.exercises.core", fromlist=["run_checker"]).run_checker,
            NOT_ATTEMPTED,
        )
    return results


def test_the_grader_finds_every_chapter_with_exercises():
    assert {"01_tensors", "04_losses", "07_cnn"} <= set(CHAPTERS)
    assert CHAPTERS["01_tensors"] == Chapter("01_tensors", "ch01_tensors")


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_each_student_edition_filled_with_the_solutions_grades_all_passed_and_with_stubs_not_attempted(
    stem, tmp_path, monkeypatch
):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")  # the stubs print ⏳; nothing may raise
    chapter = CHAPTERS[stem]
    notebook = _load(stem)
    filled = _grade_in_process(chapter, _run_in_process(filled_student_edition(notebook)), tmp_path)
    assert filled and all(status == PASSED for status, _ in filled.values()), filled
    stubs = _grade_in_process(chapter, _run_in_process(filled_student_edition(notebook, fill=False)), tmp_path)
    assert all(status == NOT_ATTEMPTED for status, _ in stubs.values()), stubs


def test_answers_travel_as_data_and_functions_as_source(tmp_path):
    import numpy as np

    source = '''
import numpy as np
import torch
import torch.nn.functional as F
from torch import exp
EPS = 1e-6
SCALE = torch.tensor([2.0])

def helper(x):
    return x * SCALE

def uses_helper(x, eps=EPS):
    return F.relu(helper(x)) + exp(torch.zeros(1)) * eps

def make_adder(k):
    def add(x):
        return x + k
    return add

adder = make_adder(3)
square = lambda x: x * x
stub = ...
def unfinished(x):
    """Not done yet."""
    ...
table = {"a": (1, 2.5, None), 3: [torch.float64, torch.Size([2, 3])]}
array = np.arange(4.0)
'''
    namespace = {"__name__": "__main__"}
    linecache.cache["<learner cell>"] = (len(source), None, source.splitlines(keepends=True), "<learner cell>")
    exec(compile(source, "<learner cell>", "exec"), namespace)
    names = ["uses_helper", "adder", "square", "stub", "unfinished", "table", "array"]
    torch.save(grading_answers.encode_answers(namespace, names), tmp_path / "a.pt")
    payload = torch.load(tmp_path / "a.pt", weights_only=True)  # plain data: nothing is unpickled as an object
    answers, uncarried = grading_answers.rebuild(payload, "test")
    assert uncarried == []
    assert torch.equal(answers["uses_helper"](torch.tensor([-1.0, 1.0])), torch.tensor([1e-6, 2.0 + 1e-6]))
    assert answers["uses_helper"] is not namespace["uses_helper"]
    assert answers["adder"](1) == 4 and answers["square"](3) == 9
    assert answers["stub"] is Ellipsis
    assert answers["table"] == {"a": (1, 2.5, None), 3: [torch.float64, torch.Size([2, 3])]}
    assert isinstance(answers["array"], np.ndarray) and answers["array"].tolist() == [0.0, 1.0, 2.0, 3.0]
    from course_lib.exercises.core.verdicts import _is_stub

    assert _is_stub(answers["unfinished"]) and not _is_stub(answers["square"])  # its source is readable again


def test_a_patched_torch_in_the_kernel_does_not_travel(tmp_path):
    """The kernel's torch.exp replaced by a fake: the answer is rebuilt against the real torch."""
    source = "import torch\nfrom torch import exp\ndef f(x):\n    return exp(x)\n"
    namespace = {"__name__": "__main__"}
    linecache.cache["<c>"] = (len(source), None, source.splitlines(keepends=True), "<c>")
    exec(compile(source, "<c>", "exec"), namespace)
    payload = grading_answers.encode_answers(namespace, ["f"])
    assert payload["namespace"]["exp"] == {"t": "import", "module": "torch", "name": "exp"}
    answers, _ = grading_answers.rebuild(payload, "t")
    assert answers["f"](torch.zeros(1)).item() == 1.0


def test_what_cannot_travel_is_named():
    class Opaque:
        pass

    payload = grading_answers.encode_answers({"__name__": "__main__", "thing": Opaque()}, ["thing", "nothing"])
    assert payload["answers"]["nothing"] == {"t": grading_answers.MISSING}
    with pytest.raises(grading_answers.RebuildError, match="cannot carry a value of type Opaque"):
        grading_answers.rebuild(payload, "t")


def _cell(source, tags=()):
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {"tags": list(tags)},
        "outputs": [],
        "execution_count": None,
    }


def test_answers_are_saved_after_the_last_checker_call_or_else_the_last_definition():
    exercises = CHAPTERS["01_tensors"].exercises()
    cells = [
        _cell("import course_lib"),
        _cell("answer = ...\nex.check_grid_tensor(answer)"),
        {"cell_type": "markdown", "source": "text", "metadata": {}},
        _cell("answer = 1\nex.check_grid_tensor(answer)"),
        _cell("def masked_mean(values, mask):\n    return values.mean(1)\n"),  # its checker call deleted
        _cell("print('the end')"),
    ]
    plan = plan_captures(cells, exercises)
    assert plan[3] == {"grid_tensor": ["answer"]} and plan[4] == {"masked_mean": ["masked_mean"]}
    assert set(plan[5]) == {"flatten_per_example", "broadcast_predictions", "normalize_rows"}  # never defined


def test_submissions_are_found_in_learner_folders_and_by_file_name(tmp_path):
    notebook = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    for path in (
        "class/alice/01_tensors.ipynb",
        "class/alice/04_losses.ipynb",
        "class/bob_01_tensors.ipynb",
        "class/01_tensors-carol.ipynb",
        "class/notes.ipynb",
        "class/alice/.ipynb_checkpoints/x.ipynb",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(notebook)
    submissions, skipped = find_submissions([tmp_path / "class"], CHAPTERS)
    assert sorted((s.learner, s.notebook) for s in submissions) == [
        ("alice", "01_tensors"),
        ("alice", "04_losses"),
        ("bob", "01_tensors"),
        ("carol", "01_tensors"),
    ]
    assert len(skipped) == 1 and "notes.ipynb" in skipped[0]


def test_the_report_counts_per_exercise_and_per_learner(tmp_path):
    rows = [
        Row("ann", "01_tensors", "grid_tensor", PASSED, "ok"),
        Row("ann", "01_tensors", "masked_mean", FAILED, "no"),
        Row("ben", "01_tensors", "grid_tensor", PASSED, "ok"),
        Row("ben", "01_tensors", "masked_mean", NOT_ATTEMPTED, "…"),
    ]
    runs = [
        {
            "learner": "ben",
            "notebook": "01_tensors",
            "status": "timed out",
            "cell": 7,
            "error_cells": [],
            "seconds": 1,
            "changed_course_files": [],
        }
    ]
    write_report(rows, {"submissions": 2, "skipped": [], "seconds": 3, "runs": runs}, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "| 01_tensors | masked_mean | 0 | 1 | 1 |" in text and "| ann | 1/2 | 1/2 |" in text
    assert text.index("masked_mean |") < text.index("grid_tensor |")  # the hardest exercise first
    assert "ben 01_tensors: stopped (timed out) at cell 7" in text
    assert (tmp_path / "summary.png").stat().st_size > 1000
    with (tmp_path / "grades.csv").open() as handle:
        assert next(csv.reader(handle)) == ["learner", "notebook", "exercise", "result", "message"]


# ----------------------------------------------------------------------------------------------- a class, graded
SOLVED = {  # chapter 01's official answers, by exercise
    "grid_tensor": "answer = torch.arange(12, dtype=torch.float32).reshape(3, 4)\n",
    "flatten_per_example": "def flatten_per_example(x):\n    return x.flatten(start_dim=1)\n",
    "masked_mean": "def masked_mean(values, mask):\n    counts = mask.sum(dim=1).clamp(min=1)\n"
    "    return (values * mask).sum(dim=1) / counts\n",
    "broadcast_predictions": "predictions_of_shapes = [(8, 7, 6, 5), (5, 5), None, (2, 4, 3)]\n",
    "normalize_rows": "def normalize_rows(x):\n    return x / x.norm(dim=1, keepdim=True)\n",
}
CALLS = {
    "grid_tensor": "ex.check_grid_tensor(answer)",
    "flatten_per_example": "ex.check_flatten_per_example(flatten_per_example)",
    "masked_mean": "ex.check_masked_mean(masked_mean)",
    "broadcast_predictions": "ex.check_broadcast_predictions(predictions_of_shapes)",
    "normalize_rows": "ex.check_normalize_rows(normalize_rows)",
}
WRONG_MEAN = "def masked_mean(values, mask):\n    return (values * mask).mean(dim=1)\n"


def _trimmed_student_edition():
    """Chapter 01's student edition, its set-up cell and exercise cells only (the narrative cells cost time)."""
    student = strip_solutions(_load("01_tensors"))[0]
    code = [c for c in student["cells"] if c["cell_type"] == "code"]
    cells = [code[0]] + [c for c in code[1:] if "ex." in _source(c)]
    return dict(student, cells=[dict(c, outputs=[], execution_count=None) for c in cells])


def _submission(*extra_cells, answers=None, calls=True, before=None):
    """A trimmed chapter 01 whose exercise cells hold ``answers`` (by exercise id; the rest stay stubs), with
    ``before[id]`` inserted before an exercise's cell and ``extra_cells`` at the end."""
    notebook = _trimmed_student_edition()
    cells = []
    for cell in notebook["cells"]:
        source = _source(cell)
        found = [e for e, call in CALLS.items() if call in source]
        if found:
            exercise_id = found[0]
            if before and exercise_id in before:
                cells.append(_cell(before[exercise_id]))
            if answers and exercise_id in answers:
                source = answers[exercise_id] + ("\n" + CALLS[exercise_id] if calls else "")
            elif not calls:
                source = source.replace(CALLS[exercise_id], "")
            cell = dict(cell, source=source)
        cells.append(cell)
    return dict(notebook, cells=cells + [_cell(source) for source in extra_cells])


FAKE_EDIT = r"""
import importlib, pathlib, re
path = pathlib.Path(ex.__file__)
text = path.read_text()
text = re.sub(r'(def check_\w+\([^)]*\)[^:]*:\n)', r'\1    return "faked"\n', text)
path.write_text(text)
ex = importlib.reload(ex)
ex.check_masked_mean(masked_mean)
"""
FAKE_PATCH = """
import course_lib.exercises.core.verdicts as verdicts
from course_lib.exercises.core import PASSED, Result
verdicts._evaluate = lambda fn, args, kwargs: (Result(PASSED, "faked"), None)
verdicts.run_checker = lambda *a, **k: Result(PASSED, "faked")
ex.check_masked_mean = lambda *a: print("✅ Masked mean: faked")
torch.allclose = lambda *a, **k: True
ex.close_tensors = lambda *a, **k: False
ex.expect_close = lambda *a, **k: None
ex.check_masked_mean(masked_mean)
"""
ATTACK_IN_ANSWER = """
def masked_mean(values, mask):
    import course_lib.exercises.ch01_tensors as checker
    checker.expect_close = lambda *a, **k: None
    checker.close_tensors = lambda *a, **k: False
    checker.expect_no_python_loop = lambda *a, **k: None
    return (values * mask).mean(dim=1)
"""
FORGED_VERDICT = """
def masked_mean(values, mask):
    print('{"id": "masked_mean", "status": "passed", "message": "forged"}', flush=True)
    return (values * mask).mean(dim=1)
"""
CLASS = {
    "solved": lambda: _submission(answers=SOLVED),
    "stubs": lambda: _submission(),
    "wrong": lambda: _submission(answers={"masked_mean": WRONG_MEAN}),
    "fake_print": lambda: _submission(
        answers={"masked_mean": WRONG_MEAN + 'print("✅ Masked mean: correct!")'}, calls=False
    ),
    "fake_patch": lambda: _submission(answers={"masked_mean": WRONG_MEAN + FAKE_PATCH}, calls=False),
    "fake_edit": lambda: _submission(answers={"masked_mean": WRONG_MEAN + FAKE_EDIT}, calls=False),
    "no_calls": lambda: _submission(
        answers={"grid_tensor": SOLVED["grid_tensor"], "masked_mean": WRONG_MEAN}, calls=False
    ),
    "attack_in_answer": lambda: _submission(answers={"masked_mean": ATTACK_IN_ANSWER}),
    "forged_verdict": lambda: _submission(answers={"masked_mean": FORGED_VERDICT}),
    "raises": lambda: _submission(answers=SOLVED, before={"masked_mean": "raise RuntimeError('my bug')"}),
    "loops": lambda: _submission(answers=SOLVED, before={"masked_mean": "while True:\n    pass"}),
    "memory": lambda: _submission(
        answers=SOLVED, before={"masked_mean": "big = []\nwhile True:\n    big.append(torch.ones(50_000_000))"}
    ),
    "killed": lambda: _submission(
        answers=SOLVED, before={"broadcast_predictions": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}
    ),
}
TIME_LIMIT = 90  # seconds per notebook: the loop runs into it


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class (plus chapter 01's whole student edition, filled and not) in one grader run, against a copy
    of course_lib, so that the notebook that edits a checker file edits the copy."""
    root = tmp_path_factory.mktemp("grading")
    shutil.copytree(
        PROJECT_ROOT / "course_lib", root / "lib" / "course_lib", ignore=shutil.ignore_patterns("__pycache__")
    )
    for learner, make in CLASS.items():
        (root / "class" / learner).mkdir(parents=True)
        (root / "class" / learner / "01_tensors.ipynb").write_text(json.dumps(make()))
    full = _load("01_tensors")
    (root / "class" / "whole_filled_01_tensors.ipynb").write_text(json.dumps(filled_student_edition(full)))
    (root / "class" / "whole_stubs_01_tensors.ipynb").write_text(json.dumps(strip_solutions(full)[0]))
    env = dict(os.environ, PYTHONPATH=str(root / "lib"), COURSE_DATA_DIR=str(PROJECT_ROOT / "data"))
    out = root / "out"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_lib",
            "grade",
            str(root / "class"),
            "--out",
            str(out),
            "--time-limit",
            str(TIME_LIMIT),
            "--memory-limit",
            "3000",
            "--jobs",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    with (out / "grades.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    results = {}
    for row in rows:
        results.setdefault(row["learner"], {})[row["exercise"]] = (row["result"], row["message"])
    return {"results": results, "out": out, "root": root, "stdout": process.stdout}


def _statuses(graded, learner):
    return {exercise: status for exercise, (status, _) in graded["results"][learner].items()}


@pytest.mark.slow
def test_a_solved_notebook_passes_and_stubs_are_not_attempted(graded):
    assert set(_statuses(graded, "solved").values()) == {PASSED}
    assert set(_statuses(graded, "stubs").values()) == {NOT_ATTEMPTED}


@pytest.mark.slow
def test_the_whole_student_edition_filled_passes_and_left_as_is_is_not_attempted(graded):
    assert set(_statuses(graded, "whole_filled").values()) == {PASSED}
    assert set(_statuses(graded, "whole_stubs").values()) == {NOT_ATTEMPTED}


@pytest.mark.slow
def test_a_wrong_answer_fails_with_the_checkers_message(graded):
    status, message = graded["results"]["wrong"]["masked_mean"]
    assert status == FAILED and "divided by the row length" in message
    assert _statuses(graded, "wrong")["grid_tensor"] == NOT_ATTEMPTED


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["fake_print", "fake_patch", "fake_edit", "attack_in_answer", "forged_verdict"])
def test_a_faked_pass_fails(graded, learner):
    status, message = graded["results"][learner]["masked_mean"]
    assert status == FAILED, (learner, message)


@pytest.mark.slow
def test_an_answer_that_changes_the_checker_is_told_so(graded):
    assert "while it was being checked" in graded["results"]["attack_in_answer"]["masked_mean"][1]


@pytest.mark.slow
def test_a_checker_file_edited_by_a_notebook_is_put_back_and_named(graded):
    copy = graded["root"] / "lib" / "course_lib" / "exercises" / "ch01_tensors.py"
    assert copy.read_text() == (PROJECT_ROOT / "course_lib" / "exercises" / "ch01_tensors.py").read_text()
    assert "fake_edit 01_tensors:" in (graded["out"] / "summary.md").read_text()
    assert "ch01_tensors.py" in (graded["out"] / "summary.md").read_text()


@pytest.mark.slow
def test_without_checker_calls_the_answers_are_still_graded(graded):
    statuses = _statuses(graded, "no_calls")
    assert statuses["grid_tensor"] == PASSED and statuses["masked_mean"] == FAILED


@pytest.mark.slow
def test_a_notebook_that_raises_is_graded_past_the_error(graded):
    assert set(_statuses(graded, "raises").values()) == {PASSED}


@pytest.mark.slow
def test_a_notebook_that_loops_keeps_what_it_reached(graded):
    results = graded["results"]["loops"]
    assert results["grid_tensor"][0] == results["flatten_per_example"][0] == PASSED
    assert results["masked_mean"][0] == FAILED and "not reached" in results["masked_mean"][1]
    assert f"{TIME_LIMIT} s limit" in results["normalize_rows"][1]


@pytest.mark.slow
def test_a_notebook_that_exhausts_memory_keeps_its_results(graded):
    assert set(_statuses(graded, "memory").values()) == {PASSED}  # the allocation fails at the limit; cells go on
    results = graded["results"]["killed"]
    assert results["masked_mean"][0] == PASSED
    assert results["broadcast_predictions"][0] == FAILED and "kernel died" in results["broadcast_predictions"][1]


@pytest.mark.slow
def test_the_summary_shows_every_learner(graded):
    text = (graded["out"] / "summary.md").read_text()
    for learner in list(CLASS) + ["whole_filled", "whole_stubs"]:
        assert f"| {learner} | " in text
    assert "| 01_tensors | masked_mean |" in text
