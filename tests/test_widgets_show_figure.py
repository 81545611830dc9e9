import ipywidgets as widgets
import matplotlib.pyplot as plt

from course_lib.widgets import show_figure


def test_show_figure_replaces_the_output_and_closes_the_figure():
    output = widgets.Output()
    first = plt.figure()
    show_figure(output, first, "first")
    second = plt.figure()
    show_figure(output, second)
    # Outside a kernel the Output widget records nothing, so check what matters here: both figures were
    # closed (the notebook will not draw them again below the widget) and nothing else was left open.
    assert not plt.fignum_exists(first.number) and not plt.fignum_exists(second.number)
