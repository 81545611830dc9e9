import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.__main__ import main as cli
from course_lib.config import PROJECT_ROOT
from course_lib.editions import EditionError, make_student_edition, strip_solutions


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _cell(source, tags=()):
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {"tags": list(tags)},
        "outputs": [],
        "execution_count": None,
    }


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
    with pytest.raises(EditionError, match="must go outside the notebook folder"):
        make_student_edition(source, source)
    with pytest.raises(EditionError, match="There is no notebook folder at"):
        make_student_edition(tmp_path / "nowhere", out)


def test_command_line_student_edition_of_the_course(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "course_lib", "student-edition", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Student edition written to" in out
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        student = json.loads((tmp_path / "s" / path.name).read_text())
        assert not any("solution" in c["metadata"].get("tags", []) for c in student["cells"])


def _course_copy(tmp_path, names=("01.ipynb", "02.ipynb", "03.ipynb")):
    source = tmp_path / "nb"
    source.mkdir()
    for name in names:
        (source / name).write_text(json.dumps(_nb(_cell(f"stub {name}"), _cell("answer", ["solution"]))))
    return source


def test_an_edited_notebook_in_out_is_never_overwritten_without_force(tmp_path):
    """student-edition used to overwrite a learner's edited notebook in OUT without a word."""
    source, out = _course_copy(tmp_path), tmp_path / "students"
    make_student_edition(source, out)
    assert make_student_edition(source, out) == {"01.ipynb": 1, "02.ipynb": 1, "03.ipynb": 1}  # unchanged: fine
    work = out / "02.ipynb"
    work.write_text(work.read_text().replace("stub 02", "my answer"))
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_text() for p in out.iterdir()}
    with pytest.raises(
        EditionError,
        match=r"already holds 02\.ipynb, changed since a fresh student edition.*nothing "
        r"was written: pass --force",
    ):
        make_student_edition(source, out)
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    make_student_edition(source, out, force=True)
    assert "my answer" not in work.read_text() and (out / "notes.txt").read_text() == "mine"


def test_all_or_nothing_when_one_notebook_is_broken(tmp_path):
    source = _course_copy(tmp_path, names=("00.ipynb", "01.ipynb", "02.ipynb", "03.ipynb", "05.ipynb"))
    (source / "04.ipynb").write_text('{"cells": [')  # cut short
    with pytest.raises(EditionError, match=r"04\.ipynb is not a valid notebook .*nothing was written"):
        make_student_edition(source, tmp_path / "students")
    assert not (tmp_path / "students").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["nb"]  # no temporary folder left behind


def test_a_failed_write_leaves_no_partial_edition(tmp_path, monkeypatch):
    source = _course_copy(tmp_path)
    real_write = Path.write_text

    def fail_on_the_third(self, *args, **kwargs):
        if self.name == "03.ipynb":
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_on_the_third)
    with pytest.raises(EditionError, match=r"Could not write the student edition to .* \(No space left on device\)"):
        make_student_edition(source, tmp_path / "students")
    assert not (tmp_path / "students").exists() and [p.name for p in tmp_path.iterdir()] == ["nb"]


def test_out_inside_the_notebook_folder_is_refused(tmp_path):
    source = _course_copy(tmp_path)
    with pytest.raises(EditionError, match=r"must go outside the notebook folder .*choose another folder"):
        make_student_edition(source, source / "students")
    assert sorted(p.name for p in source.iterdir()) == ["01.ipynb", "02.ipynb", "03.ipynb"]


def test_command_line_errors_are_one_sentence_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli(["student-edition", str(out)]) == 0
    (out / "01_tensors.ipynb").write_text("{}")
    capsys.readouterr()
    cases = [
        ([str(out)], "already holds 01_tensors.ipynb"),
        ([str(PROJECT_ROOT / "notebooks" / "student")], "must go outside the notebook folder"),
        ([str(out), "--notebooks", str(tmp_path / "none")], "There is no notebook folder"),
    ]
    for args, message in cases:
        assert cli(["student-edition", *args]) == 2
        printed = capsys.readouterr()
        assert printed.out == "" and printed.err.startswith("student-edition: ") and message in printed.err
        assert printed.err.count("\n") == 1
    assert cli(["student-edition", str(out), "--force"]) == 0
    assert json.loads((out / "01_tensors.ipynb").read_text())["cells"]
    assert not (PROJECT_ROOT / "notebooks" / "student").exists()
