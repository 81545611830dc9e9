"""Explorer callbacks run one at a time, whatever thread ipykernel delivers them on (course_lib.widgets.one_at_a_time)."""

import re
import threading
import time
from pathlib import Path

from course_lib.widgets import one_at_a_time

WIDGETS = Path(__file__).resolve().parent.parent / "course_lib" / "widgets"


def test_two_threads_never_draw_at_once_and_a_callback_may_call_another():
    running, most = [0], [0]

    @one_at_a_time
    def inner() -> None:
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        running[0] -= 1

    @one_at_a_time
    def outer() -> None:  # a new surface sets sliders, then redraws: the lock is re-entrant
        inner()

    threads = [threading.Thread(target=outer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert most[0] == 1


def test_every_explorer_observer_is_wrapped():
    for path in sorted(WIDGETS.glob("*.py")):
        source = path.read_text()
        observed = set(re.findall(r"\.observe\((\w+)", source)) | set(re.findall(r"\.on_click\((\w+)", source))
        for name in observed:
            assert re.search(rf"@one_at_a_time\n\s*def {name}\(", source), (
                f"{path.name}: {name} is a widget callback without @one_at_a_time"
            )
