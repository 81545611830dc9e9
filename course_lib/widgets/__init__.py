"""Interactive explorers (ipywidgets), one module per explorer; each function returns a widget.

Import the module you need: ``from course_lib.widgets.broadcasting import broadcasting_explorer``.
Without a widget front end (CI, a terminal) a widget shows as plain text and nothing fails.
"""

from __future__ import annotations

import base64
import functools
import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

__all__ = ["show_figure", "clear_figure", "one_at_a_time"]

F = TypeVar("F", bound=Callable)
# One lock for every explorer in the kernel: re-entrant, since a callback may call another (a new surface
# sets four sliders, then redraws).
_DRAWING = threading.RLock()


def one_at_a_time(callback: F) -> F:
    """Run an explorer's callback only while no other explorer callback runs, in any thread.

    JupyterLab 4.6 with ipykernel 7 can deliver widget messages on a kernel subshell, a second thread,
    so two redraws could run at once; matplotlib is not thread-safe, and two figures laid out together
    corrupted its mathtext parser ("ParseException: Expected end of text" on a log axis's tick labels:
    the optimizer race, tests/test_browser.py). Every explorer's observer goes through this.
    """

    @functools.wraps(callback)
    def run(*args, **kwargs):
        with _DRAWING:
            return callback(*args, **kwargs)

    return run  # type: ignore[return-value]


def show_figure(output: ipywidgets.Output, fig: Figure, text: str | None = None) -> None:
    """Replace what ``output`` shows with ``fig`` (and a line of ``text`` above it), then close ``fig``.

    Every explorer redraws this way. The new picture replaces the old one in a single update of the
    widget's ``outputs``, so nothing flickers. It deliberately does not capture output
    (``with output: display(fig)`` after ``clear_output(wait=True)``): while a cell runs under
    nbclient (nbconvert, the tests, bench/notebooks.py), each captured output makes the client
    answer on the shell channel, and that answer can swallow the wake-up of the cell's own
    execute_reply, so the run sat idle for the whole cell timeout (issue 14). Closing the figure
    stops the notebook from drawing it a second time below the widget and frees its memory.
    """
    import matplotlib.pyplot as plt

    png = io.BytesIO()
    # What Jupyter's inline backend does for display(fig): a PNG of the figure, cropped to its contents.
    fig.savefig(png, format="png", bbox_inches="tight", facecolor=fig.get_facecolor())
    plt.close(fig)
    outputs = []
    if text:
        outputs.append({"output_type": "stream", "name": "stdout", "text": text + "\n"})
    outputs.append(
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"image/png": base64.b64encode(png.getvalue()).decode("ascii"), "text/plain": repr(fig)},
        }
    )
    output.outputs = tuple(outputs)


def clear_figure(output: ipywidgets.Output) -> None:
    """Show nothing in ``output`` (an explorer whose input is invalid); see ``show_figure`` for why not clear_output."""
    output.outputs = ()
