"""Widgets only draw: no widget module imports the training loop, the data or the models.

The experiments they show live in ``course_lib.experiments`` (and ``scratch``, ``augment``); a widget
takes a model or a result as an argument and draws it. Checked on the source, imports inside
functions included, so an import hidden in a function body fails too.
"""

import ast
from pathlib import Path

import pytest

WIDGETS = Path(__file__).resolve().parent.parent / "course_lib" / "widgets"
FORBIDDEN = ("course_lib.train", "course_lib.data", "course_lib.models")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to ``course_lib.…``, at any depth of the code."""
    package = ["course_lib", "widgets"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from .. import train`
    return found


@pytest.mark.parametrize("path", sorted(WIDGETS.glob("*.py")), ids=lambda p: p.name)
def test_widget_module_imports_no_training_data_or_models(path):
    bad = sorted(m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"{path.name} imports {bad}: move that computation to course_lib.experiments and draw its result"


def test_the_check_sees_relative_and_hidden_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from ..models import MLP\n\ndef f():\n    from .. import train\n    import course_lib.data\n")
    assert {"course_lib.models", "course_lib.train", "course_lib.data"} <= imported_modules(sample)
    sample.write_text("from . import show_figure\nfrom ..experiments.network_race import NetworkRace\n")
    assert not any(m.startswith(FORBIDDEN) for m in imported_modules(sample))
