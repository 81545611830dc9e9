import shutil
import subprocess
import sys
from pathlib import Path

from course_lib import doctor
from course_lib.config import PROJECT_ROOT


def test_read_pins_follows_environment_markers(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# comment\n"
        "torch==2.14.1\n"
        'keras==9.9.9; python_version < "3.0"\n'
        'keras==3.15.1; python_version >= "3.0"\n'
        "--extra-index-url https://example.org\n"
        "tqdm==4.70.1  # progress bars\n"
    )
    assert doctor.read_pins(req) == {"torch": "2.14.1", "keras": "3.15.1", "tqdm": "4.70.1"}


def test_check_pins_reports_missing_and_mismatched(monkeypatch):
    installed = {"torch": "2.14.1+cpu", "numpy": "1.0.0"}
    monkeypatch.setattr(doctor, "_installed", installed.get)
    problems = doctor.check_pins({"torch": "2.14.1", "numpy": "2.2.6", "nbval": "0.11.0"})
    assert len(problems) == 2  # torch's CPU build satisfies the pin
    assert any("numpy 1.0.0 is installed but the course was tested with 2.2.6" in p for p in problems)
    assert any("nbval is not installed" in p and "pip install -r requirements.txt" in p for p in problems)


def test_doctor_reports_data_and_device_without_importing_tensorflow():
    lines, problems = doctor.diagnose()
    text = "\n".join(lines)
    assert "best device: cpu" in text or "best device: cuda" in text or "best device: mps" in text
    assert "data/mnist/train-images-idx3-ubyte.gz: ok" in text
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from course_lib import doctor; doctor.diagnose();print('tensorflow' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"


def test_doctor_reports_the_memory_limit_with_its_unit_and_none_without_one(monkeypatch):
    from course_lib import device

    real = device.device_info()
    for limit, expected in [(None, "container limit none"), (2.0, "container limit 2.0 GB")]:
        monkeypatch.setattr(device, "device_info", lambda limit=limit: {**real, "memory_limit_gb": limit})
        (memory,) = [line for line in doctor.diagnose()[0] if line.startswith("Memory:")]
        assert memory.endswith(expected), memory  # not "none GB"


def test_doctor_command_line_names_what_to_fix(tmp_path):
    broken = tmp_path / "data"
    broken.mkdir()
    env = {"COURSE_DATA_DIR": str(broken), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "course_lib", "doctor"], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and result.stderr == ""
    assert "thing(s) to fix" in result.stdout
    # The folder is wrong, so that is said once, with what the folder should hold, not five "git checkout" hints.
    assert f"COURSE_DATA_DIR points at {broken}, which holds neither mnist/ nor tinyshakespeare/" in result.stdout
    assert "git checkout" not in result.stdout and ".venv" not in result.stdout


def _copy_of_data(tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", root)
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    return root


def test_doctor_names_each_bad_file_in_a_good_folder(tmp_path, monkeypatch):
    root = _copy_of_data(tmp_path, monkeypatch)
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    (root / "tinyshakespeare" / "input.txt").write_text("edited")
    lines, problems = doctor.diagnose()
    data_problems = [p for p in problems if p.startswith("data/")]
    assert data_problems == [
        "data/mnist/t10k-labels-idx1-ubyte.gz is missing. Restore it with `git checkout -- "
        "data/mnist/t10k-labels-idx1-ubyte.gz` in the course folder, or set COURSE_DATA_DIR to a folder with a good copy.",
        "data/tinyshakespeare/input.txt is corrupt. Restore it with `git checkout -- data/tinyshakespeare/input.txt` in "
        "the course folder, or set COURSE_DATA_DIR to a folder with a good copy.",
    ]
    assert not any(".venv" in p for p in problems)


def test_doctor_survives_an_unreadable_file(tmp_path, monkeypatch):
    """Unreadable files made doctor crash with a raw PermissionError."""
    _copy_of_data(tmp_path, monkeypatch)
    real_open = Path.open

    def guarded(self, *args, **kwargs):
        if self.name == "input.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded)
    lines, problems = doctor.diagnose()
    assert "  data/tinyshakespeare/input.txt: unreadable" in lines
    assert any(
        p.startswith("data/tinyshakespeare/input.txt cannot be read by this user. Fix its permissions")
        for p in problems
    )


def test_doctor_has_no_dead_import_table():
    assert not hasattr(doctor, "_IMPORT_NAMES")
