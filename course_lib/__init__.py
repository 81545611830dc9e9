"""course_lib: the helper library of the deep-learning course.

The everyday names live here: ``get_device``, ``seed_everything``, ``fast_or_full``. The chapters
import the training loop from its module, ``from course_lib.train import fit, evaluate, predict``
(with the callbacks); ``fit`` and ``evaluate`` stay importable from here too.
Importing course_lib never imports TensorFlow (it costs about 0.7 GB of memory); only the
chapters' TensorFlow sections and ``course_lib.keras_models`` do.
"""
from .config import fast_or_full, is_fast
from .device import apply_cpu_limit, device_info, get_device
from .reproducibility import seed_everything
from .train import evaluate, fit

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
