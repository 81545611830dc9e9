"""Style: ruff's lint rules (chosen in pyproject.toml) find nothing, and its formatter would change no file."""

import subprocess
import sys

from course_lib.config import PROJECT_ROOT


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "."],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_finds_nothing():
    result = _ruff("check")
    assert result.returncode == 0, f"ruff check found problems (`ruff check --fix .` fixes some):\n{result.stdout}"


def test_ruff_format_would_change_nothing():
    result = _ruff("format", "--check")
    assert result.returncode == 0, f"run `ruff format .`; it would change:\n{result.stdout}"
