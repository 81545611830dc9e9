"""Check that requirements.txt resolves on every platform and Python the course supports.

pip cannot do this from one machine (it evaluates markers such as ``platform_system`` for
the machine it runs on), so this uses uv's resolver, which resolves for a named target
platform and Python without installing anything. It needs the network (PyPI), so it is
not part of the offline test suite: run it whenever the pins change.

    pip install uv && python tools/check_pins.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = {  # uv's names for the platforms learners use
    "Linux x86_64": "x86_64-manylinux_2_28",
    "macOS arm64": "aarch64-apple-darwin",
    "Windows x86_64": "x86_64-pc-windows-msvc",
}
PYTHONS = ["3.10", "3.11", "3.12"]


def resolve(requirements: Path, platform: str, python: str) -> subprocess.CompletedProcess:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": "14.0"}  # torch 2.14's macOS wheels need macOS 14+
    command = [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--no-header",
        "--no-annotate",
        str(requirements),
        "--python-version",
        python,
        "--python-platform",
        platform,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="?", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args()
    if not (shutil.which("uv") or Path(sys.executable).with_name("uv").exists()):
        print("This check needs uv (a resolver that can target other platforms): pip install uv")
        return 2
    failures = 0
    print(f"{'platform':<16} {'python':<7} {'torch':<9} {'tensorflow':<11} {'keras':<8} result")
    for name, platform in PLATFORMS.items():
        for python in PYTHONS:
            result = resolve(args.requirements, platform, python)
            pins = dict(line.split("==", 1) for line in result.stdout.splitlines() if "==" in line)
            ok = result.returncode == 0
            failures += not ok
            why = "ok" if ok else "FAILS: " + " ".join(result.stderr.split())[:300]
            print(
                f"{name:<16} {python:<7} {pins.get('torch', '-'):<9} {pins.get('tensorflow', '-'):<11} "
                f"{pins.get('keras', '-'):<8} {why}",
                flush=True,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
