#!/usr/bin/env python3
"""Set up the course and open it, or test it, with nothing but Python 3.10+ installed.

    python3 course.py lab      # create .venv, install the pinned packages, open JupyterLab
    python3 course.py test     # the same set-up, then run every test and every notebook
    python3 course.py setup    # only the set-up
    python3 course.py doctor   # check versions, device and data, and say what to fix

The first run creates a virtual environment in ``.venv`` and installs requirements.txt
there (a few GB, several minutes); later runs reuse it and reinstall only when
requirements.txt changes. Extra arguments after ``test`` go to pytest, e.g.
``python3 course.py test tests/test_data.py -x``. This file uses only the standard library.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COURSE_VENV", ROOT / ".venv"))
STAMP = VENV / ".course-installed"
MIN_PYTHON = (3, 10)
# Given to JupyterLab and so to every kernel it starts, before PyTorch loads its OpenMP runtime (which
# reads them once, at `import torch`). PASSIVE: a thread that runs out of work sleeps instead of spinning,
# so two kernels (or a kernel and another program) training at once share the CPU instead of fighting over
# it, which made training 16-50x slower (README, Troubleshooting). binder/start sets the same.
KERNEL_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def run_setup_step(command: list[str | Path]) -> None:
    """Run one step of the set-up (a pip install); if it fails, say how to recover from a broken set-up."""
    print("$", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(
            f"\nThis set-up step failed (exit code {result.returncode}): {' '.join(str(p) for p in command)}\n"
            "Read the pip message above. Network problems: retry. A broken environment: "
            f"delete the folder {VENV} and run this command again."
        )


def setup() -> Path:
    """Create .venv and install the pins, unless that was already done for this requirements.txt."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(
            f"The course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is "
            f"{sys.platform} Python {sys.version.split()[0]}. Install a newer Python and run this again."
        )
    python = venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    wanted = requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return python
    print("Installing the course's packages (first time: several minutes, a few GB) ...", flush=True)
    run_setup_step([python, "-m", "pip", "install", "--disable-pip-version-check", "-r", ROOT / "requirements.txt"])
    run_setup_step(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "--no-build-isolation", "-e", ROOT]
    )
    STAMP.write_text(wanted + "\n")
    return python


def main(argv: list[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("lab", [])
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return
    if command not in ("setup", "lab", "test", "doctor"):
        sys.exit(f"Unknown command {command!r}. Use one of: lab, test, setup, doctor (python3 course.py --help).")
    python = setup()
    for name, value in KERNEL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)  # a learner's own setting wins
    if command == "lab":
        extra = []
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in rest:
            # Jupyter refuses to start as root (common in Docker and cloud VMs) unless told it is intended.
            print("Running as root (a container or VM?): starting JupyterLab with --allow-root.", flush=True)
            extra = ["--allow-root"]
        os.execv(
            str(python),
            [
                str(python),
                "-m",
                "jupyterlab",
                "--notebook-dir",
                str(ROOT),
                "notebooks/00_start_here.ipynb",
                *extra,
                *rest,
            ],
        )
    elif command == "test":
        os.chdir(ROOT)
        os.execv(str(python), [str(python), "-m", "pytest", *rest])
    elif command == "doctor":
        # The doctor prints what to fix itself (a data file, a version); the set-up's "delete .venv" advice
        # would be wrong for most of its findings, so pass on its exit code and nothing else.
        sys.exit(subprocess.run([str(python), "-m", "course_lib", "doctor", *rest], cwd=ROOT).returncode)


if __name__ == "__main__":
    main(sys.argv[1:])
