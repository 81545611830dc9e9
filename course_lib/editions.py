"""Make a student edition: the same notebooks without the cells tagged ``solution``."""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SOLUTION_TAG", "strip_solutions", "make_student_edition"]

SOLUTION_TAG = "solution"


def strip_solutions(notebook: dict) -> tuple[dict, int]:
    """Return a copy of a notebook (as parsed JSON) without solution cells, and how many went."""
    kept = [cell for cell in notebook["cells"] if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", [])]
    stripped = dict(notebook, cells=kept)
    return stripped, len(notebook["cells"]) - len(kept)


def make_student_edition(source: str | Path, destination: str | Path) -> dict[str, int]:
    """Copy every ``*.ipynb`` of ``source`` to ``destination`` with solutions removed.

    Returns ``{notebook name: solution cells removed}``. The source is never modified.
    """
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise FileNotFoundError(f"No notebook folder at {source}. Pass the course's notebooks/ folder.")
    if destination.resolve() == source.resolve():
        raise ValueError("The student edition must go to another folder, or it would overwrite the solutions.")
    destination.mkdir(parents=True, exist_ok=True)
    removed = {}
    for path in sorted(source.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        stripped, count = strip_solutions(notebook)
        (destination / path.name).write_text(json.dumps(stripped, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        removed[path.name] = count
    return removed
