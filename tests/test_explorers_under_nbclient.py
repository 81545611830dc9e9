"""Every chapter's explorer cell, run many times under nbclient, never leaves the client waiting.

Issue 14: nbconvert/nbclient runs sat idle after an explorer cell for exactly the cell timeout, then
went on without an error. The cause: show_figure captured the figure into an Output widget, and
nbclient's stand-in for the Output widget answers every captured output with a comm message on the
shell channel, sent while it waits on that channel for the cell's execute_reply. That send (through a
plain shadow of the asyncio socket) can consume the socket's wake-up for the reply, which then waits
in the socket until the poll times out. Seen on a busy machine about once in 5 to 30 explorer cells.

This test fails on the mechanism itself, whatever the machine's load: the client may send nothing on
the shell channel but the cells' execute requests. It also times each cell's execute_reply against
the kernel's "idle" status, which arrives at the same moment when nothing stalls.
"""

import re
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REPEATS = 3  # each explorer cell, one after another in one kernel
CELL_TIMEOUT = 60  # seconds; a stall would take all of it
LATE_REPLY = 2.0  # seconds between the kernel's idle status and its execute_reply reaching the client

# What the explorer cells need from earlier cells of their chapter besides its first (import) cell, which runs
# before them: a little data and a model (the real, trained ones matter not).
SETUP = """
import torch
from course_lib.data import load_mnist
from course_lib.models import MLP, SmallCNN

x_test, y_test = load_mnist(train=False, limit=200)
depth = 12
"""
MODEL_FOR = {
    "06": "model = MLP()",
    "07": "model = SmallCNN()",
    "08": "shipped = CharLM(load_shakespeare_chars().vocab, embed=8, hidden=16, layers=1)",
    "09": "vae_2d = shipped_vae('ch09_vae_2d')\nmeans_2d = encode_means(vae_2d, x_test)",
    # two small TensorBoard runs for the runs explorer to choose between
    "10": "import tempfile\nfrom pathlib import Path\nfrom course_lib.tensorboard_logs import summary_writer\n"
    "work = Path(tempfile.mkdtemp())\n"
    "for run, rate in [('slow', 0.5), ('fast', 0.8)]:\n"
    "    writer = summary_writer(work / 'runs' / run)\n"
    "    for epoch in range(4):\n"
    "        writer.add_scalar('epoch/train_loss', rate ** epoch, epoch)\n"
    "        writer.add_scalar('batch/loss', rate ** epoch, epoch)\n"
    "    writer.close()",
}
EXPLORER_CALL = re.compile(r"(^|[\s.])\w+_explorer\(")


def import_cell(stem: str) -> str:
    """The chapter's first code cell: its imports, so an explorer cell finds the names it uses."""
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def explorer_cells() -> list[tuple[str, str]]:
    """(notebook stem, source) of every code cell whose last line shows an explorer."""
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            lines = [line for line in cell.source.splitlines() if line.strip()]
            if cell.cell_type == "code" and lines and EXPLORER_CALL.search(lines[-1]):
                found.append((path.stem, cell.source))
    return found


def test_every_chapter_has_its_explorer_found():
    chapters = {stem[:2] for stem, _ in explorer_cells()}
    assert {"00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10"} <= chapters


def test_explorer_cells_never_stall_under_nbclient():
    cells, labels = [new_code_cell(SETUP)], ["setup"]
    imported = set()
    for stem, source in explorer_cells():
        if stem not in imported:
            imported.add(stem)
            cells.append(new_code_cell(import_cell(stem)))
            labels.append(f"{stem} imports")
        if stem[:2] in MODEL_FOR:
            cells.append(new_code_cell(MODEL_FOR[stem[:2]]))
            labels.append(f"{stem} model")
        for repeat in range(REPEATS):
            cells.append(new_code_cell(source))
            labels.append(f"{stem} explorer, run {repeat + 1}")
    notebook = new_notebook(cells=cells)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False)

    sent, arrived = [], {}
    with client.setup_kernel():
        kc = client.kc
        send = kc.shell_channel.send

        def spy_send(msg):
            sent.append(msg["header"]["msg_type"])
            return send(msg)

        kc.shell_channel.send = spy_send
        for name in ("shell", "iopub"):
            channel = getattr(kc, f"{name}_channel")

            async def timed_get_msg(*args, _get=channel.get_msg, _name=name, **kwargs):
                msg = await _get(*args, **kwargs)
                if _name == "shell" or msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    arrived[(_name, msg["parent_header"].get("msg_id"))] = time.monotonic()
                return msg

            channel.get_msg = timed_get_msg
        late = []
        for index, (cell, label) in enumerate(zip(cells, labels)):
            started = time.monotonic()
            client.execute_cell(cell, index)
            seconds = time.monotonic() - started
            request = [key[1] for key in arrived if key[0] == "shell"][-1]
            gap = arrived[("shell", request)] - arrived.get(("iopub", request), arrived[("shell", request)])
            if gap > LATE_REPLY:
                late.append(f"{label}: the reply came {gap:.1f} s after the kernel went idle ({seconds:.1f} s in all)")

    others = Counter(kind for kind in sent if kind != "execute_request")
    problems = late + (
        [
            f"the client sent {dict(others)} on the shell channel while cells ran: an explorer captured "
            "output into an Output widget (draw with course_lib.widgets.show_figure instead)"
        ]
        if others
        else []
    )
    assert not problems, "explorer cells can stall under nbclient:\n" + "\n".join(problems)


if __name__ == "__main__":  # python tests/test_explorers_under_nbclient.py: the same run, with its wall time
    started = time.monotonic()
    pytest.main([__file__, "-q"])
    print(f"{time.monotonic() - started:.0f} s")
