"""``python -m course_lib doctor``: what is installed, what the course expects, what to fix."""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import re
import sys
from pathlib import Path

from .config import PROJECT_ROOT, data_dir, is_fast

__all__ = ["read_pins", "check_pins", "diagnose", "main"]


def read_pins(requirements: Path | None = None) -> dict[str, str]:
    """``{package: version}`` from the ``name==version`` lines of requirements.txt.

    Lines whose environment marker (``; python_version < "3.11"``) does not hold for this
    Python are skipped, so each package maps to the version pinned for this machine.
    """
    from packaging.markers import Marker

    path = requirements or PROJECT_ROOT / "requirements.txt"
    pins = {}
    if not path.is_file():
        return pins
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*(?:;\s*([^#]+))?", line)
        if match and (match.group(3) is None or Marker(match.group(3).strip()).evaluate()):
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _same_release(installed: str, pinned: str) -> bool:
    """``2.14.1+cpu`` satisfies a pin of ``2.14.1`` (Binder installs the CPU-only build)."""
    return installed.split("+")[0] == pinned.split("+")[0]


def check_pins(pins: dict[str, str]) -> list[str]:
    """One problem line for every pinned package that is missing or of another version."""
    problems = []
    for name, pinned in pins.items():
        installed = _installed(name)
        if installed is None:
            problems.append(f"{name} is not installed (the course pins {pinned}). Run: pip install -r requirements.txt")
        elif not _same_release(installed, pinned):
            problems.append(
                f"{name} {installed} is installed but the course was tested with {pinned}; results and APIs may differ. "
                "Run: pip install -r requirements.txt"
            )
    return problems


def _data_report() -> tuple[list[str], list[str]]:
    """One line per data file, and what to fix: the folder itself if it is wrong, else each bad file."""
    from .data import DataError, check_data_folder, data_status

    status = data_status()
    lines = [f"  data/{relative}: {state}" for relative, state in status.items()]
    try:
        check_data_folder()
    except DataError as error:  # the folder is wrong: one problem, not one per file
        return lines, [str(error)]
    problems = []
    for relative, state in status.items():
        if state in ("missing", "corrupt"):
            problems.append(
                f"data/{relative} is {state}. Restore it with `git checkout -- data/{relative}` in the course folder, "
                "or set COURSE_DATA_DIR to a folder with a good copy."
            )
        elif state == "unreadable":
            problems.append(
                f"data/{relative} cannot be read by this user. Fix its permissions (e.g. `chmod -R u+rX` on the data "
                "folder), or set COURSE_DATA_DIR to a readable copy."
            )
    return lines, problems


def diagnose() -> tuple[list[str], list[str]]:
    """(report lines, problem lines). Never imports TensorFlow: it only reads its version."""
    from . import __version__
    from .device import device_info

    info = device_info()
    memory_limit = f"{info['memory_limit_gb']} GB" if info["memory_limit_gb"] else "none"
    lines = [
        f"course_lib {__version__} (from {Path(__file__).resolve().parent})",
        f"Python {info['python']} on {info['platform']}",
        f"PyTorch {info['torch']}; best device: {info['best_device']}; available: {', '.join(info['available_devices'])}",
        f"CPUs: {info['cpu_count']} reported, limit {info['cpu_limit'] or 'none'}, torch threads {info['torch_threads']}",
        f"Memory: {info['memory_total_gb']} GB total, container limit {memory_limit}",
        f"Fast mode (COURSE_FAST): {'on' if is_fast() else 'off'}",
        f"Data folder: {data_dir()}",
    ]
    for gpu in info.get("gpus", []):
        lines.append(f"GPU: {gpu['name']} ({gpu['memory_gb']} GB)")
    problems = []
    if sys.version_info < (3, 10):  # noqa: UP036 (the doctor is what tells an older Python so)
        problems.append(f"Python {info['python']} is too old: the course needs Python 3.10 or newer.")
    data_lines, data_problems = _data_report()
    lines += data_lines
    problems += data_problems
    pins = read_pins()
    if pins:
        for name in pins:
            installed = _installed(name)
            lines.append(f"  {name}: {installed or 'missing'} (pinned {pins[name]})")
        problems += check_pins(pins)
    else:
        lines.append("requirements.txt not found next to course_lib: cannot compare versions with the pins.")
    if importlib.util.find_spec("tensorflow") is None:
        problems.append(
            "TensorFlow is not installed: the TensorFlow/Keras sections will fail. Run: pip install -r requirements.txt"
        )
    return lines, problems


def main() -> int:
    lines, problems = diagnose()
    print("\n".join(lines))
    print()
    if problems:
        print(f"{len(problems)} thing(s) to fix:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("Everything the course needs is in place.")
    return 0
