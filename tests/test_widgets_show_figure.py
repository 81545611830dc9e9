import base64

import ipywidgets as widgets
import matplotlib.pyplot as plt

from course_lib.widgets import clear_figure, show_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(output_item: dict) -> bytes:
    return base64.b64decode(output_item["data"]["image/png"])


def test_show_figure_replaces_the_output_and_closes_the_figure():
    output = widgets.Output()
    first = plt.figure(figsize=(2, 2))
    show_figure(output, first, "first")
    assert [item["output_type"] for item in output.outputs] == ["stream", "display_data"]
    assert output.outputs[0]["text"] == "first\n"
    first_png = _png(output.outputs[1])
    assert first_png.startswith(PNG_SIGNATURE)

    second = plt.figure(figsize=(4, 2))
    show_figure(output, second)
    # Replaced, not appended: one picture, no text line left over from the first call.
    assert [item["output_type"] for item in output.outputs] == ["display_data"]
    assert _png(output.outputs[0]).startswith(PNG_SIGNATURE) and _png(output.outputs[0]) != first_png
    # Both figures were closed: the notebook will not draw them again below the widget.
    assert not plt.fignum_exists(first.number) and not plt.fignum_exists(second.number)

    clear_figure(output)
    assert output.outputs == ()


def test_show_figure_never_captures_output(monkeypatch):
    """Capturing (``with output:``, ``clear_output``) makes nbclient answer on the shell channel mid-cell,
    which could swallow the execute_reply's wake-up (issue 14): the widget's msg_id must never be set."""
    output = widgets.Output()
    entered = []
    monkeypatch.setattr(widgets.Output, "__enter__", lambda self: entered.append(self))
    monkeypatch.setattr(widgets.Output, "clear_output", lambda self, *a, **k: entered.append(self))
    msg_ids = []
    output.observe(lambda change: msg_ids.append(change["new"]), names="msg_id")
    show_figure(output, plt.figure(), "text")
    clear_figure(output)
    assert entered == [] and msg_ids == []
