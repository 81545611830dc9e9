"""course.py, the two-command quick start (only the parts that run without installing)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.config import PROJECT_ROOT


def _course():
    spec = importlib.util.spec_from_file_location("course_script", PROJECT_ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unknown_command_is_explained():
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "course.py"), "tset"], capture_output=True, text=True)
    assert result.returncode != 0 and "Unknown command 'tset'. Use one of: lab, test" in result.stderr


def test_help_lists_the_two_quick_start_commands():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "course.py"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "python3 course.py lab" in out and "python3 course.py test" in out


def test_reinstall_happens_when_requirements_change(tmp_path, monkeypatch):
    course = _course()
    (tmp_path / "requirements.txt").write_text("torch==2.14.1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(course, "ROOT", tmp_path)
    first = course.requirements_digest()
    (tmp_path / "requirements.txt").write_text("torch==2.14.2\n")
    assert course.requirements_digest() != first


def test_doctor_finding_a_data_problem_does_not_advise_deleting_the_venv(tmp_path, monkeypatch, capfd):
    """`course.py doctor` used to end a data problem with "delete the folder .venv and run again" (an 8 GB
    reinstall for a data file): that advice belongs to the set-up steps only."""
    course = _course()
    monkeypatch.setattr(course, "setup", lambda: Path(sys.executable))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as stopped:
        course.main(["doctor"])
    assert stopped.value.code == 1
    out, err = capfd.readouterr()
    assert "COURSE_DATA_DIR points at" in out and ".venv" not in out + err and "delete" not in out + err


def test_a_failed_set_up_step_still_says_how_to_recover(monkeypatch):
    course = _course()
    with pytest.raises(SystemExit, match=r"(?s)This set-up step failed \(exit code 3\).*delete the folder .*\.venv"):
        course.run_setup_step([sys.executable, "-c", "import sys; sys.exit(3)"])


def test_lab_gives_jupyter_the_kernel_environment(monkeypatch):
    """Kernels inherit JupyterLab's environment; PyTorch reads OMP_WAIT_POLICY once, when it loads."""
    course = _course()
    launched = {}
    monkeypatch.setattr(course, "setup", lambda: "python")
    monkeypatch.setattr(course.os, "execv", lambda path, args: launched.update(os.environ))
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    course.main(["lab"])
    assert course.KERNEL_ENVIRONMENT == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert launched["OMP_WAIT_POLICY"] == "PASSIVE"

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a learner's own choice wins
    course.main(["lab"])
    assert launched["OMP_WAIT_POLICY"] == "ACTIVE"


def test_binder_start_sets_the_same_kernel_environment(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    start = PROJECT_ROOT / "binder" / "start"
    out = subprocess.run(
        ["bash", str(start), sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    environment = json.loads(out)
    for name, value in _course().KERNEL_ENVIRONMENT.items():
        assert environment.get(name) == value, f"binder/start does not set {name}={value} like course.py"
