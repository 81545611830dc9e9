"""Interactive explorers (ipywidgets), one module per explorer; each function returns a widget.

Import the module you need: ``from course_lib.widgets.broadcasting import broadcasting_explorer``.
Without a widget front end (CI, a terminal) a widget shows as plain text and nothing fails.
"""
