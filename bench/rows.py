"""What the bench scripts share: each row runs in a fresh process that prints one ``ROW {json}`` line."""

from __future__ import annotations

import json
import subprocess


def row_from_child(name: str, done: subprocess.CompletedProcess) -> dict:
    """The row a child process printed, or the row's error with the last lines it wrote."""
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("ROW "):
            return json.loads(line[4:])
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {"row": name, "error": f"exit code {done.returncode}: " + " | ".join(tail)}


def fmt(value, spec: str) -> str:
    """A table cell: '-' where the row has no value."""
    return "-" if value is None else format(value, spec)
