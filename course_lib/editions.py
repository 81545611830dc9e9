"""Make a student edition: the same notebooks without the cells tagged ``solution``.

Safe to run on a folder a learner already works in: a notebook there that differs from a fresh
student edition (their work) is never overwritten unless asked (``force=True``, ``--force``), and
the edition is written all or nothing (into a temporary folder first, then moved into place).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["SOLUTION_TAG", "EditionError", "strip_solutions", "make_student_edition"]

SOLUTION_TAG = "solution"


class EditionError(ValueError):
    """The student edition cannot be written; the message says why and what to do, in one sentence."""


def strip_solutions(notebook: dict) -> tuple[dict, int]:
    """Return a copy of a notebook (as parsed JSON) without solution cells, and how many went."""
    kept = [cell for cell in notebook["cells"] if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", [])]
    stripped = dict(notebook, cells=kept)
    return stripped, len(notebook["cells"]) - len(kept)


def _student_texts(source: Path) -> dict[str, tuple[str, int]]:
    """``{name: (student notebook as text, solution cells removed)}`` for every notebook, before anything is written."""
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise EditionError(f"There are no notebooks (*.ipynb) in {source}: pass the course's notebooks/ folder.")
    texts = {}
    for path in paths:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise EditionError(f"{path} is not a valid notebook ({error}), so nothing was written.") from None
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise EditionError(f"{path} is not a Jupyter notebook (it has no list of cells), so nothing was written.")
        stripped, count = strip_solutions(notebook)
        texts[path.name] = (json.dumps(stripped, indent=1, ensure_ascii=False) + "\n", count)
    return texts


def make_student_edition(source: str | Path, destination: str | Path, force: bool = False) -> dict[str, int]:
    """Copy every ``*.ipynb`` of ``source`` to ``destination`` with solutions removed.

    Returns ``{notebook name: solution cells removed}``. The source is never modified. Raises
    ``EditionError`` (nothing written) when ``destination`` is inside ``source``, or holds a notebook
    of the same name that differs from the fresh edition and ``force`` is False.
    """
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise EditionError(f"There is no notebook folder at {source}: pass the course's notebooks/ folder.")
    inside = destination.resolve() == source.resolve() or source.resolve() in destination.resolve().parents
    if inside:
        raise EditionError(
            f"The student edition must go outside the notebook folder {source}, or it would mix with "
            f"(and overwrite) the solutions: choose another folder than {destination}."
        )
    if destination.exists() and not destination.is_dir():
        raise EditionError(f"{destination} is a file, not a folder: choose a folder for the student edition.")
    texts = _student_texts(source)
    try:
        if not force:
            edited = [
                name
                for name, (text, _) in texts.items()
                if (destination / name).exists() and (destination / name).read_text(encoding="utf-8") != text
            ]
            if edited:
                raise EditionError(
                    f"{destination} already holds {', '.join(edited)}, changed since a fresh student edition "
                    "(perhaps a learner's work), so nothing was written: pass --force (force=True) to overwrite, "
                    "or choose another folder."
                )
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
        try:
            for name, (text, _) in texts.items():
                (staging / name).write_text(text, encoding="utf-8")
            if not destination.exists():
                os.replace(staging, destination)  # one rename: the whole edition appears at once
            else:
                for name in texts:  # every file is complete before the first one moves
                    os.replace(staging / name, destination / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        raise EditionError(
            f"Could not write the student edition to {destination} ({error.strerror or error}): "
            "check that you may write there."
        ) from None
    return {name: count for name, (_, count) in texts.items()}
