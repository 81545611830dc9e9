"""course_lib: the helper library of the deep-learning course.

The everyday names live here: ``get_device``, ``seed_everything``, ``fast_or_full``. The chapters
import the training loop from its module, ``from course_lib.train import fit, evaluate, predict``
(with the callbacks); ``fit`` and ``evaluate`` stay importable from here too.
Importing course_lib never imports TensorFlow (it costs about 0.7 GB of memory); only the
chapters' TensorFlow sections and ``course_lib.keras_models`` do.
"""

import os

# PyTorch's OpenMP runtime reads this once, when torch loads, so it takes effect only where course_lib is
# imported before torch: every chapter's first line is `import course_lib` (tests/test_hygiene.py checks),
# and bench/ scripts do the same. course.py lab and binder/start also put it in the kernels' environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import fast_or_full, is_fast  # noqa: E402 (after the setting above)
from .device import apply_cpu_limit, device_info, get_device  # noqa: E402
from .reproducibility import seed_everything  # noqa: E402
from .train import evaluate, fit  # noqa: E402

__version__ = "0.1.0"

# Binder and other containers cap CPUs far below what the host reports: follow the cap.
apply_cpu_limit()

__all__ = [
    "__version__",
    "device_info",
    "evaluate",
    "fast_or_full",
    "fit",
    "get_device",
    "is_fast",
    "seed_everything",
]
