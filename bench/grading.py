"""How long grading a class takes: 30 copies of one chapter's student edition, filled with the official solutions,
graded by ``python -m course_lib grade`` (fast mode, as the grader runs by default).

The anchor, measured in the same run: one plain run of the same notebook in a fresh kernel (what nbval or
"Restart and run all" costs). The grader's time per notebook above that anchor is its own cost (the answers saved
after each exercise, the checking process). Every copy must grade as all passed, or the bench fails. Prints a table
and writes the rows as JSON to bench/results/grading.json. Run it with ``nice`` on a shared machine.

    python bench/grading.py                              # 30 copies of 01_tensors, one at a time
    python bench/grading.py --chapter 04_losses --copies 10 --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import course_lib  # noqa: E402,F401 (first, before torch)
from course_lib.grading import filled_student_edition  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "grading.json"


def load_average() -> float:
    return os.getloadavg()[0]


def plain_run(path: Path, timeout: int) -> float:
    """Wall time of one fresh-kernel run of ``path`` in fast mode (the anchor)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    os.environ["COURSE_FAST"] = "1"
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="01_tensors", help="notebook stem (01_tensors)")
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=900)
    args = parser.parse_args()

    source = json.loads((ROOT / "notebooks" / f"{args.chapter}.ipynb").read_text(encoding="utf-8"))
    filled = filled_student_edition(source)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        folder = Path(folder)
        (folder / "class").mkdir()
        for number in range(1, args.copies + 1):
            (folder / "class" / f"learner{number:02d}_{args.chapter}.ipynb").write_text(json.dumps(filled))
        load_before = load_average()
        anchor = plain_run(folder / "class" / f"learner01_{args.chapter}.ipynb", args.time_limit)
        rows.append(
            {
                "what": f"plain run of {args.chapter} (anchor)",
                "notebooks": 1,
                "jobs": 1,
                "wall_s": round(anchor, 1),
                "per_notebook_s": round(anchor, 1),
            }
        )
        start = time.perf_counter()
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "course_lib",
                "grade",
                str(folder / "class"),
                "--out",
                str(folder / "out"),
                "--jobs",
                str(args.jobs),
                "--time-limit",
                str(args.time_limit),
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if process.returncode != 0:
            print(process.stdout + process.stderr)
            return 1
        with (folder / "out" / "grades.csv").open(encoding="utf-8") as handle:
            results = [row["result"] for row in csv.DictReader(handle)]
        rows.append(
            {
                "what": f"grade {args.copies} copies of {args.chapter}",
                "notebooks": args.copies,
                "jobs": args.jobs,
                "wall_s": round(wall, 1),
                "per_notebook_s": round(wall / args.copies, 1),
            }
        )
        load_after = load_average()
    passed = results.count("passed")
    print(f"{'what':<42} {'notebooks':>9} {'jobs':>4} {'wall s':>8} {'s / notebook':>12}")
    for row in rows:
        print(
            f"{row['what']:<42} {row['notebooks']:>9} {row['jobs']:>4} {row['wall_s']:>8} {row['per_notebook_s']:>12}"
        )
    print(
        f"{passed} of {len(results)} exercises passed (every copy is the official solutions); "
        f"grader overhead per notebook: {rows[1]['per_notebook_s'] - rows[0]['per_notebook_s']:+.1f} s over the "
        f"anchor; load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs"
    )
    report = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "rows": rows,
        "exercises": len(results),
        "passed": passed,
    }
    print(json.dumps(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
