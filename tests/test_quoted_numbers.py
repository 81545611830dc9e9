"""The numbers a chapter's prose quotes are checked against its full run (tools/check_quoted_numbers.py).

CI has no full run, so here every entry of every chapter is checked for form (its prose is in the chapter's
markdown, its regex compiles with one group, its range is a range), and the checker itself is checked on small
executed notebooks made up for the purpose. bench/notebooks.py --mode full runs the checker on the real runs.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import nbformat
import pytest

from course_lib.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tools"))
import check_quoted_numbers as quoted
from test_hygiene import CHAPTERS

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Every chapter's prose quotes numbers from its run: each must list them.
CHAPTERS_WITH_ENTRIES = CHAPTERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_entry_is_well_formed_and_its_prose_is_in_the_chapter(path):
    nb = nbformat.read(path, as_version=4)
    entries = quoted.quoted_numbers(nb)
    if path.stem in CHAPTERS_WITH_ENTRIES:
        assert entries, f"{path.name}: list the numbers its prose quotes in metadata['course']['quoted_numbers']"
    for entry in entries:
        assert not quoted.entry_problems(entry, nb), f"{path.name}: {entry}: {quoted.entry_problems(entry, nb)}"


def executed(outputs: list[dict], markdown: str = "The run gives about 42 things.") -> nbformat.NotebookNode:
    """A notebook with one markdown cell and one code cell holding ``outputs``, as nbclient writes them."""
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('...')")
    code.outputs = [nbformat.from_dict(output) for output in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), code]
    return nb


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def with_entry(nb: nbformat.NotebookNode, low: float = 40, high: float = 45, **changes) -> nbformat.NotebookNode:
    entry = {"prose": "about 42 things", "output": r"things: ([0-9.,]+)", "low": low, "high": high, **changes}
    nb.metadata["course"] = {"quoted_numbers": [entry]}
    return nb


def check(nb: nbformat.NotebookNode) -> quoted.QuotedNumber:
    (row,) = quoted.check_notebook(nb, "synthetic.ipynb")
    return row


def test_a_value_in_range_passes():
    row = check(with_entry(executed([stdout("things: 42.5\n")])))
    assert row.ok and row.value == 42.5


def test_a_value_out_of_range_fails():
    row = check(with_entry(executed([stdout("things: 56.7\n")])))
    assert not row.ok and row.value == 56.7 and row.problem == "out of range"


def test_a_missing_output_fails():
    assert check(with_entry(executed([]))).problem == r"no output matches 'things: ([0-9.,]+)'"
    assert not check(with_entry(executed([stdout("other: 42\n")]))).ok


def test_outputs_are_read_as_a_learner_sees_them():
    """stdout split into chunks is joined, text/plain results count, stderr (progress bars) does not,
    thousands separators are dropped, and the first match in cell order wins."""
    chunks = executed(
        [stdout("thi"), {"output_type": "stream", "name": "stderr", "text": "things: 99\n"}, stdout("ngs: 1,042\n")]
    )
    assert check(with_entry(chunks, low=1000, high=1100)).value == 1042
    result = executed(
        [{"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": "things: 41"}}]
    )
    assert check(with_entry(result)).value == 41
    twice = executed([stdout("things: 41\n")])
    twice.cells.append(executed([stdout("things: 99\n")]).cells[1])
    assert check(with_entry(twice)).value == 41


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"output": r"things: [0-9]+"}, "must have exactly one group, has 0"),
        ({"output": r"(things): ([0-9]+)"}, "must have exactly one group, has 2"),
        ({"output": r"things: ([0-9]+"}, "is not a valid regex"),
        ({"prose": "about 43 things"}, "is in no markdown cell"),
        ({"low": 50}, "low 50 is above high 45"),
        ({"high": "45"}, "low and high must be numbers"),
        ({"note": "extra"}, "keys must be exactly"),
    ],
)
def test_a_malformed_entry_fails_and_says_why(changes, problem):
    row = check(with_entry(executed([stdout("things: 42\n")]), **changes))
    assert not row.ok and problem in row.problem


def test_prose_may_wrap_differently_from_the_entry():
    nb = with_entry(executed([stdout("things: 42\n")], markdown="The run gives about 42\nthings."))
    assert check(nb).ok
    assert check(with_entry(nb, prose="about\n42   things")).ok


def test_prose_is_looked_for_in_markdown_only():
    nb = with_entry(executed([stdout("about 42 things: 42\n")], markdown="No number here."))
    assert "is in no markdown cell" in check(nb).problem


def test_the_command_prints_a_table_and_fails_on_a_miss(tmp_path, capsys):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(with_entry(executed([stdout("things: 42\n")])), good)
    nbformat.write(with_entry(executed([stdout("things: 56.7\n")])), bad)
    assert quoted.main([str(good)]) == 0
    assert quoted.main([str(good), str(bad)]) == 1
    table = capsys.readouterr().out
    assert "good.ipynb" in table and "bad.ipynb" in table and "MISS: out of range" in table
    assert "[40, 45]" in table and "56.7" in table


@pytest.mark.slow
def test_a_full_bench_run_checks_the_numbers_it_produced(tmp_path, monkeypatch, capsys):
    """bench/notebooks.py --mode full executes a notebook, then checks its quoted numbers against that run."""
    spec = importlib.util.spec_from_file_location("bench_notebooks", PROJECT_ROOT / "bench" / "notebooks.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "notebooks.json")
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [
        nbformat.v4.new_markdown_cell("The run gives about 42 things."),
        nbformat.v4.new_code_cell("print('things:', 6 * 7)"),
    ]
    path = tmp_path / "00_synthetic.ipynb"
    nbformat.write(with_entry(nb), path)
    assert bench.main(["--mode", "full", "--save-executed", str(tmp_path / "executed"), str(path)]) == 0
    assert "about 42 things" in capsys.readouterr().out
    saved = nbformat.read(tmp_path / "executed" / "00_synthetic.full.ipynb", as_version=4)
    assert [cell.source for cell in saved.cells] == [cell.source for cell in nb.cells]  # no measuring cell
    assert json.loads((tmp_path / "notebooks.json").read_text())[0]["status"] == "ok"

    nbformat.write(with_entry(nb, low=50, high=60), path)
    assert bench.main(["--mode", "full", str(path)]) == 1
    assert "MISS: out of range" in capsys.readouterr().out
    assert bench.main(["--mode", "fast", str(path)]) == 0  # the prose describes the full run only
