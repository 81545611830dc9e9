import subprocess
import sys

from course_lib import doctor


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
    out = subprocess.run([sys.executable, "-c", "import sys; from course_lib import doctor; doctor.diagnose();"
                          "print('tensorflow' in sys.modules)"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_doctor_command_line_names_what_to_fix(tmp_path):
    broken = tmp_path / "data"
    broken.mkdir()
    env = {"COURSE_DATA_DIR": str(broken), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "course_lib", "doctor"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "thing(s) to fix" in result.stdout and "data/mnist/t10k-images-idx3-ubyte.gz is missing" in result.stdout
