"""Test-wide settings. Set here, before any notebook kernel starts, so kernels inherit them."""

import os
import sys

import pytest

os.environ["COURSE_FAST"] = "1"  # notebooks shrink epochs and subsets
os.environ["COURSE_STRICT_EXERCISES"] = "1"  # a solution that fails its own checker fails the test
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _close_figures_after_each_test():
    """Each test starts with no open matplotlib figure (the widget tests assert that an explorer leaves none)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
