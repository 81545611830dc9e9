"""Check that the numbers a chapter's prose quotes are the numbers its full run prints.

Each notebook lists the numbers its text quotes from a run in its metadata,
``metadata["course"]["quoted_numbers"]``, one entry per number::

    {"prose": "falls to about 55%",                    # a substring of a markdown cell (line breaks: any)
     "output": "one linear layer: ([0-9.]+)%",         # a regex with one group, searched in the outputs
     "low": 50, "high": 60}                            # the range the full run's value must land in

The regex is searched in the text outputs of the code cells (stdout and ``text/plain``), cell by
cell in order; the first match is the value (commas in it are dropped, so "1,234" reads 1234).
Give the range the full run lands in with other seeds and machines, not just the one number we saw.

    python tools/check_quoted_numbers.py executed/*.ipynb     # notebooks executed in full mode

prints a table (notebook, prose, value found, range, ok) and exits with 1 if any entry misses:
its value is out of range, its output is not found, or the entry itself is malformed.
``bench/notebooks.py --mode full`` runs this on every notebook it executes.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

ENTRY_KEYS = {"prose", "output", "low", "high"}


@dataclass(frozen=True)
class QuotedNumber:
    """One checked entry: what the prose says, what the run printed, and whether it lands in range."""

    notebook: str
    prose: str
    value: float | None
    low: Any
    high: Any
    problem: str | None  # None when the value was found and lands in [low, high]

    @property
    def ok(self) -> bool:
        return self.problem is None


def quoted_numbers(nb: nbformat.NotebookNode) -> list[dict]:
    """The notebook's ``metadata["course"]["quoted_numbers"]`` list (empty when it has none)."""
    return list(nb.metadata.get("course", {}).get("quoted_numbers", []))


def one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks too) as one space: rewrapping prose keeps its entries."""
    return " ".join(text.split())


def markdown_text(nb: nbformat.NotebookNode) -> list[str]:
    """The source of every markdown cell."""
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def output_texts(nb: nbformat.NotebookNode) -> list[str]:
    """Per code cell, its stdout (every stream chunk joined) followed by each ``text/plain`` result."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        stdout = "".join(
            out.get("text", "")
            for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stdout"
        )
        plain = [out["data"]["text/plain"] for out in cell.get("outputs", []) if "text/plain" in out.get("data", {})]
        texts.append("\n".join([stdout, *plain]))
    return texts


def entry_problems(entry: Any, nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with an entry itself (empty when nothing): keys, regex, range, prose present."""
    if not isinstance(entry, dict):
        return [f"an entry must be a dict with keys {sorted(ENTRY_KEYS)}, got {entry!r}"]
    problems = []
    if set(entry) != ENTRY_KEYS:
        problems.append(f"keys must be exactly {sorted(ENTRY_KEYS)}, got {sorted(entry)}")
    prose, output = entry.get("prose"), entry.get("output")
    low, high = entry.get("low"), entry.get("high")
    if not isinstance(prose, str) or not prose:
        problems.append("prose must be a non-empty string")
    elif not any(one_line(prose) in one_line(text) for text in markdown_text(nb)):
        problems.append(f"prose {prose!r} is in no markdown cell")
    if not isinstance(output, str):
        problems.append("output must be a regex string")
    else:
        try:
            groups = re.compile(output).groups
        except re.error as error:
            problems.append(f"output {output!r} is not a valid regex: {error}")
        else:
            if groups != 1:
                problems.append(f"output {output!r} must have exactly one group, has {groups}")
    numbers = [bound for bound in (low, high) if isinstance(bound, (int, float)) and not isinstance(bound, bool)]
    if len(numbers) != 2:
        problems.append(f"low and high must be numbers, got {low!r} and {high!r}")
    elif low > high:
        problems.append(f"low {low} is above high {high}")
    return problems


def find_value(pattern: str, nb: nbformat.NotebookNode) -> float | None:
    """The first match of ``pattern``'s group in the code cells' text outputs, as a number; None if none."""
    for text in output_texts(nb):
        match = re.search(pattern, text)
        if match:
            return float(match.group(1).replace(",", ""))
    return None


def check_notebook(nb: nbformat.NotebookNode, name: str) -> list[QuotedNumber]:
    """Check every quoted number of an executed notebook."""
    rows = []
    for entry in quoted_numbers(nb):
        problems = entry_problems(entry, nb)
        prose = entry.get("prose", "") if isinstance(entry, dict) else ""
        low, high = (entry.get("low"), entry.get("high")) if isinstance(entry, dict) else (None, None)
        if problems:
            rows.append(QuotedNumber(name, str(prose), None, low, high, "; ".join(problems)))
            continue
        try:
            value = find_value(entry["output"], nb)
        except ValueError:
            rows.append(
                QuotedNumber(
                    name, prose, None, low, high, f"{entry['output']!r} matched something that is not a number"
                )
            )
            continue
        if value is None:
            problem = f"no output matches {entry['output']!r}"
        elif not low <= value <= high:
            problem = "out of range"
        else:
            problem = None
        rows.append(QuotedNumber(name, prose, value, low, high, problem))
    return rows


def print_table(rows: list[QuotedNumber], file=None) -> None:
    """A table: notebook, prose, value found, range, ok (or what went wrong). ``file``: default stdout."""
    file = file or sys.stdout
    width = max([24] + [len(row.notebook) for row in rows])
    header = f"{'notebook':<{width}} {'prose':<48} {'value':>12} {'range':>22}  ok"
    print(header + "\n" + "-" * len(header), file=file)
    for row in rows:
        prose = " ".join(row.prose.split())  # one line, however the markdown wraps it
        prose = prose if len(prose) <= 48 else prose[:45] + "..."
        value = "-" if row.value is None else f"{row.value:.6g}"
        bounds = f"[{row.low}, {row.high}]"
        verdict = "ok" if row.ok else f"MISS: {row.problem}"
        print(f"{row.notebook:<{width}} {prose:<48} {value:>12} {bounds:>22}  {verdict}", file=file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="executed notebooks (.ipynb with outputs)")
    args = parser.parse_args(argv)
    rows = []
    for path in args.notebooks:
        rows += check_notebook(nbformat.read(path, as_version=4), path.name)
    print_table(rows)
    misses = [row for row in rows if not row.ok]
    print(f"\n{len(rows) - len(misses)} of {len(rows)} quoted numbers land in their range.")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
