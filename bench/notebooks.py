"""Wall time and peak kernel memory of each chapter notebook, in fast and/or full mode.

Each notebook runs top to bottom in a fresh kernel, as a learner's "Restart and run all"
does. After its last cell, one extra cell asks the kernel for its peak resident memory
(``ru_maxrss``): that is the number to hold under Binder's 2 GB. Prints a table, then each
notebook's three slowest cells, and writes the rows as JSON to bench/results/notebooks.json.

A full-mode run also checks the numbers each chapter's prose quotes (its metadata's
``course.quoted_numbers``, see tools/check_quoted_numbers.py) against what the run printed, prints
them as a second table, and fails if one misses. ``--save-executed DIR`` keeps the executed
notebooks (outputs included) to read or to check again.

    python bench/notebooks.py                       # every notebook, fast and full
    python bench/notebooks.py --mode full notebooks/07_cnn.ipynb
    python bench/notebooks.py --mode full --save-executed /tmp/executed notebooks/00_start_here.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from check_quoted_numbers import QuotedNumber, check_notebook, print_table  # noqa: E402 (after the path)

RESULTS = ROOT / "bench" / "results" / "notebooks.json"
BINDER_LIMIT_MB = 2048

PEAK_MEMORY_CELL = """\
import json, resource, sys
_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": _peak / (2**20 if sys.platform == "darwin" else 2**10)}))
"""


def slowest_cells(notebook: nbformat.NotebookNode, count: int = 3) -> list[tuple[float, int, str]]:
    """The ``count`` code cells that took longest: (seconds, cell number counting from 1, first line).

    Read from the timing nbclient records in each executed cell's metadata (``execution``).
    """
    from datetime import datetime

    timed = []
    for number, cell in enumerate(notebook.cells, start=1):
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            seconds = (
                datetime.fromisoformat(end.replace("Z", "+00:00"))
                - datetime.fromisoformat(start.replace("Z", "+00:00"))
            ).total_seconds()
            first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
            timed.append((seconds, number, first.strip()[:60]))
    return sorted(timed, reverse=True)[:count]


def run_notebook(path: Path, fast: bool, timeout: int, save_to: Path | None = None) -> tuple[dict, list[QuotedNumber]]:
    """Execute ``path`` in a fresh kernel; return its wall time, peak memory and status, and (in full mode)
    the check of the numbers its prose quotes. ``save_to``: a folder to write the executed notebook to."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
    saved = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this environment
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    status, peak_mb = "ok", None
    try:
        client.execute()
    except CellExecutionError as error:
        status = "error: " + str(error).strip().splitlines()[-1][:120]
    except TimeoutError:
        status = f"timed out after {timeout} s"
    except DeadKernelError:  # killed: out of memory (Binder's 2 GB) or a crash; the other notebooks still run
        status = "kernel died"
    finally:
        wall = time.perf_counter() - start
        if saved is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = saved
    for output in notebook.cells[-1].get("outputs", []):
        if output.get("name") == "stdout" and "peak_mb" in output.get("text", ""):
            peak_mb = json.loads(output["text"].strip().splitlines()[-1])["peak_mb"]
    notebook.cells.pop()  # the measuring cell is ours, not the chapter's
    slowest = slowest_cells(notebook)
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save_to / f"{path.stem}.{'fast' if fast else 'full'}.ipynb")
    quoted = [] if fast else check_notebook(notebook, path.name)  # the prose describes the full run only
    row = {
        "notebook": path.name,
        "mode": "fast" if fast else "full",
        "wall_s": round(wall, 1),
        "peak_mb": round(peak_mb) if peak_mb else None,
        "status": status,
        "slowest_cells": [
            {"seconds": round(seconds, 1), "cell": number, "starts": first} for seconds, number, first in slowest
        ],
    }
    return row, quoted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--mode", choices=["fast", "full", "both"], default="both")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--save-executed", type=Path, metavar="DIR", help="write each executed notebook there")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    modes = {"fast": [True], "full": [False], "both": [True, False]}[args.mode]
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}", flush=True)
    header = f"{'notebook':<24} {'mode':<5} {'wall s':>8} {'peak MB':>8}  status"
    print(header + "\n" + "-" * len(header), flush=True)
    rows, quoted = [], []
    for path in paths:
        for fast in modes:
            row, checked = run_notebook(path.resolve(), fast, args.timeout, args.save_executed)
            rows.append(row)
            quoted += checked
            flag = "  OVER BINDER'S 2 GB" if row["peak_mb"] and row["peak_mb"] > BINDER_LIMIT_MB else ""
            print(
                f"{row['notebook']:<24} {row['mode']:<5} {row['wall_s']:>8.1f} {row['peak_mb'] or '-':>8}  "
                f"{row['status']}{flag}",
                flush=True,
            )
    print("\nSlowest cells (cell number counting markdown cells too, from 1; seconds):")
    for row in rows:
        cells = "; ".join(f"#{c['cell']} {c['seconds']:.1f} s `{c['starts']}`" for c in row["slowest_cells"])
        print(f"{row['notebook']:<24} {row['mode']:<5} {cells}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    fresh = {(row["notebook"], row["mode"]) for row in rows}
    kept = [row for row in previous if (row["notebook"], row["mode"]) not in fresh]
    RESULTS.write_text(json.dumps(sorted(kept + rows, key=lambda r: (r["notebook"], r["mode"])), indent=2) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT) if RESULTS.is_relative_to(ROOT) else RESULTS}")
    if False in modes:  # a full-mode run
        print("\nNumbers the prose quotes, against the full run (tools/check_quoted_numbers.py):")
        print_table(quoted)
    misses = [number for number in quoted if not number.ok]
    if misses:
        print(f"\n{len(misses)} quoted number(s) missed: fix the prose or the entry's range.")
    return 0 if all(row["status"] == "ok" for row in rows) and not misses else 1


if __name__ == "__main__":
    sys.exit(main())
