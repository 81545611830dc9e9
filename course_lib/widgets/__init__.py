"""Interactive explorers (ipywidgets), one module per explorer; each function returns a widget.

Import the module you need: ``from course_lib.widgets.broadcasting import broadcasting_explorer``.
Without a widget front end (CI, a terminal) a widget shows as plain text and nothing fails.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["show_figure"]


def show_figure(output: "ipywidgets.Output", fig: "Figure", text: str | None = None) -> None:
    """Replace what ``output`` shows with ``fig`` (and a line of ``text`` above it), then close ``fig``.

    Every explorer redraws this way. ``wait=True`` keeps the old picture until the new one arrives,
    so the widget does not flicker; closing the figure stops the notebook from drawing it a second
    time below the widget and frees its memory.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    output.clear_output(wait=True)
    with output:
        if text:
            print(text)
        display(fig)
    plt.close(fig)
