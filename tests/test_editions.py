import json
import subprocess
import sys

import pytest

from course_lib.config import PROJECT_ROOT
from course_lib.editions import make_student_edition, strip_solutions


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _cell(source, tags=()):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}, "outputs": [], "execution_count": None}


def test_strip_solutions_drops_only_tagged_cells():
    nb = _nb(_cell("answer = ..."), _cell("answer = 42", ["solution"]), _cell("check(answer)", ["other"]))
    stripped, removed = strip_solutions(nb)
    assert removed == 1 and [c["source"] for c in stripped["cells"]] == ["answer = ...", "check(answer)"]
    assert len(nb["cells"]) == 3  # the original is untouched


def test_student_edition_of_a_folder(tmp_path):
    source, out = tmp_path / "nb", tmp_path / "students"
    source.mkdir()
    (source / "01.ipynb").write_text(json.dumps(_nb(_cell("x"), _cell("y", ["solution"]))))
    assert make_student_edition(source, out) == {"01.ipynb": 1}
    assert [c["source"] for c in json.loads((out / "01.ipynb").read_text())["cells"]] == ["x"]
    with pytest.raises(ValueError, match="another folder"):
        make_student_edition(source, source)
    with pytest.raises(FileNotFoundError, match="No notebook folder"):
        make_student_edition(tmp_path / "nowhere", out)


def test_command_line_student_edition_of_the_course(tmp_path):
    out = subprocess.run([sys.executable, "-m", "course_lib", "student-edition", str(tmp_path / "s")],
                         capture_output=True, text=True, check=True).stdout
    assert "Student edition written to" in out
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        student = json.loads((tmp_path / "s" / path.name).read_text())
        assert not any("solution" in c["metadata"].get("tags", []) for c in student["cells"])
