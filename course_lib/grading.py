"""Grade a class's notebooks with the chapters' own checkers: ``python -m course_lib grade SUBMISSIONS... --out DIR``.

Why a grade cannot be faked from inside a notebook: each submission goes through three processes.

1. The **kernel** runs the learner's notebook, offline, under a time limit and a memory limit, cell by cell (a cell
   that raises does not stop it; an endless loop, a memory blow-up or a dead kernel stops it where it was). After
   the cell holding an exercise's checker call (or, if the learner deleted the call, the last cell that defines its
   names), the kernel saves that exercise's *answers*, never a verdict, as plain data (``grading_answers``).
   Whatever the notebook does there (print ✅, replace ``ex.check_*``, patch torch, even fake the saved data) can
   change only the answer that is graded, and any answer a kernel can save, a learner could have written.
2. The **grader** (this process) never runs learner code. It records the course's files before the class runs;
   each kernel imports a copy of course_lib of its own, so a notebook that edits a checker file edits its copy (it
   is named in the summary); should one reach the course's own files, they are put back from the record.
3. A fresh **checking process** per submission, in which no notebook code ran before the checkers were imported,
   loads the chapter's checker module from source it verifies byte for byte against the grader's record (no
   cached bytecode), rebuilds the answers (functions from their source), and calls each checker through
   ``run_checker``. It compares the checkers', torch's and the built-ins' names before and after each check: an
   answer whose code changes them while it is checked fails, and the process is replaced for the next exercise.
   Verdicts travel back as JSON on a pipe the learner's code does not print to (their prints go to /dev/null).

What is left, and how an instructor closes it: the code *inside an answer function* runs in the checking process
(it must, to be tested), so an answer written to attack this grader deliberately could still do so; it would be in
plain sight in the answer's source, which the grader keeps in DIR/answers/. And the kernel runs as the instructor's
user: for a class you do not trust, run the grader in a container or as a user who cannot write the course's
files or the virtual environment.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import PROJECT_ROOT

__all__ = [
    "Chapter",
    "Submission",
    "Row",
    "GradeOptions",
    "course_chapters",
    "find_submissions",
    "plan_captures",
    "grade",
    "write_report",
    "filled_student_edition",
    "main",
]

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"  # the same words as exercises.core
_CHAPTER_IMPORT = re.compile(r"from\s+course_lib\.exercises\s+import\s+(ch\w+)\s+as\s+\w+")
_PACKAGE = Path(__file__).resolve().parent  # the course_lib the grader runs, and the kernels and checkers import
_MESSAGE_LIMIT = 2000
_COURSE_CHANGED, _TAMPERED = 3, 4  # exit codes of the checking process


# ----------------------------------------------------------------------------------------------- what is graded
@dataclass(frozen=True)
class Chapter:
    """A chapter notebook with exercises: its stem (``01_tensors``) and its checker module (``ch01_tensors``)."""

    notebook: str
    module: str

    def exercises(self) -> list[Any]:
        import importlib

        return list(importlib.import_module(f"course_lib.exercises.{self.module}").EXERCISES)


@dataclass(frozen=True)
class Submission:
    learner: str
    notebook: str  # the chapter's stem
    path: Path


@dataclass(frozen=True)
class Row:
    learner: str
    notebook: str
    exercise: str
    result: str
    message: str


@dataclass
class GradeOptions:
    full: bool = False
    time_limit: float = 600.0  # seconds per notebook
    memory_limit_mb: int = 4096  # the kernel's (and the checking process's) data segment
    check_time_limit: float = 120.0  # seconds to check one exercise
    jobs: int = 1
    python: str = sys.executable


@dataclass
class _Outcome:
    rows: list[Row]
    run: dict = field(default_factory=dict)
    seconds: float = 0.0
    changed_files: list[str] = field(default_factory=list)


def _notebook_code(path: Path) -> str:
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def course_chapters(notebooks: Path = PROJECT_ROOT / "notebooks") -> dict[str, Chapter]:
    """Every course notebook whose code imports a checker module, by stem: the grader follows new chapters."""
    chapters = {}
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        found = _CHAPTER_IMPORT.search(_notebook_code(path))
        if found:
            chapters[path.stem] = Chapter(path.stem, found.group(1))
    return chapters


def _match_chapter(path: Path, chapters: dict[str, Chapter]) -> tuple[str, str] | None:
    """(chapter stem, what is left of the file name: the learner) for a submitted file, or None."""
    stem = path.stem
    for chapter in sorted(chapters, key=len, reverse=True):
        if chapter in stem:
            rest = stem.replace(chapter, " ")
            return chapter, re.sub(r"^[\s_\-.]+|[\s_\-.]+$", "", rest)
    found = _CHAPTER_IMPORT.search(_notebook_code(path))  # renamed file: the chapter its code imports
    if found:
        for chapter in chapters.values():
            if chapter.module == found.group(1):
                return chapter.notebook, stem
    return None


def find_submissions(paths: Iterable[str | Path], chapters: dict[str, Chapter]) -> tuple[list[Submission], list[str]]:
    """Submissions from files and folders: a folder of a learner's notebooks (the learner is the folder's name),
    notebooks named by learner (``alice_01_tensors.ipynb``), or a class folder holding either. Returns the
    submissions and a sentence for each file skipped."""
    found: list[Submission] = []
    skipped: list[str] = []

    def add_file(path: Path, folder_learner: str | None) -> None:
        match = _match_chapter(path, chapters)
        if match is None:
            skipped.append(f"{path}: not a copy of a chapter notebook with exercises")
            return
        chapter, learner = match
        learner = learner or folder_learner or path.parent.resolve().name
        found.append(Submission(learner, chapter, path))

    def visible(entries: Iterable[Path]) -> list[Path]:
        return sorted(p for p in entries if not p.name.startswith((".", "_")) and p.name != "__pycache__")

    for raw in paths:
        path = Path(raw)
        if path.is_file():
            add_file(path, None)
        elif path.is_dir():
            for child in visible(path.iterdir()):
                if child.is_file() and child.suffix == ".ipynb":
                    add_file(child, path.resolve().name)
                elif child.is_dir():
                    for grandchild in visible(child.glob("*.ipynb")):
                        add_file(grandchild, child.name)
        else:
            skipped.append(f"{path}: no such file or folder")
    unique: dict[tuple[str, str], Submission] = {}
    for submission in found:
        key = (submission.learner, submission.notebook)
        if key in unique:
            skipped.append(
                f"{submission.path}: a second {submission.notebook} for {submission.learner} "
                f"(graded {unique[key].path})"
            )
        else:
            unique[key] = submission
    return list(unique.values()), skipped


def _defines(source: str, name: str) -> bool:
    word = re.escape(name)
    return bool(
        re.search(
            rf"^\s*(def|class)\s+{word}\b|^\s*{word}\s*(:[^=\n]*)?=(?!=)|\bas\s+{word}\b|"
            rf"^\s*(\w+\s*,\s*)*{word}\s*(,\s*\w+\s*)*=(?!=)",
            source,
            re.MULTILINE,
        )
    )


def plan_captures(cells: list[dict], exercises: list[Any]) -> dict[int, dict[str, list[str]]]:
    """After which cell each exercise's answers are saved: ``{cell index: {exercise id: names}}``.

    The last cell that calls the exercise's checker (where the learner's final answer is); if they deleted the
    call, the last cell that defines one of its names; if nothing defines them, the notebook's last code cell."""
    code = [(i, "".join(cell.get("source", ""))) for i, cell in enumerate(cells) if cell.get("cell_type") == "code"]
    plan: dict[int, dict[str, list[str]]] = {}
    if not code:
        return plan
    for entry in exercises:
        call = re.compile(rf"\b{re.escape(entry.checker.__name__)}\s*\(")
        calls = [i for i, source in code if call.search(source)]
        defining = [i for i, source in code if any(_defines(source, name) for name in entry.names)]
        where = (calls or defining or [code[-1][0]])[-1]
        plan.setdefault(where, {})[entry.id] = list(entry.names)
    return plan


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _is_solution(cell: dict) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def _checker_called(source: str) -> set[str]:
    return set(re.findall(r"\bex\.(check_\w+)\(", source))


def filled_student_edition(notebook: dict, fill: bool = True) -> dict:
    """The student edition with each exercise cell holding its official solution, as a learner would fill it
    (``fill=False``: the stubs left); exercise cells are marked ``metadata["exercise"]``."""
    from .editions import strip_solutions

    cells = [dict(cell) for cell in notebook["cells"]]
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and _is_solution(cell):
            called = _checker_called(_source(cell))
            for j in range(i - 1, -1, -1):
                if (
                    cells[j]["cell_type"] == "code"
                    and not _is_solution(cells[j])
                    and _checker_called(_source(cells[j])) & called
                ):
                    imports = [
                        line
                        for line in _source(cells[j]).splitlines()  # a learner keeps the cell's imports
                        if line.startswith(("import ", "from ")) and line not in _source(cell)
                    ]
                    cells[j] = dict(
                        cells[j],
                        metadata=dict(cells[j]["metadata"], exercise=True),
                        source="\n".join(imports + [_source(cell)]) if fill else _source(cells[j]),
                    )
                    break
            else:
                raise ValueError(f"no exercise cell before the solution cell {_source(cell)[:60]!r}")
    return strip_solutions(dict(notebook, cells=cells))[0]


# ----------------------------------------------------------------------------------------------- the course's files
class _CourseFiles:
    """The course_lib files as they were before any notebook ran: digests for the checking process, and the bytes,
    to put back a file a notebook changed."""

    def __init__(self, root: Path = _PACKAGE) -> None:
        self.root = root
        self.files = self._read()
        self.lock = threading.Lock()

    def _read(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }

    def digests(self) -> dict[str, str]:
        return {name: hashlib.sha256(data).hexdigest() for name, data in self.files.items()}

    def write_copy(self, destination: Path) -> None:
        """A copy of course_lib as recorded (not as it is on disk now) for one kernel to import."""
        for name, data in self.files.items():
            path = destination / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def changed_in(self, copy: Path) -> list[str]:
        """The files of a copy of course_lib that differ from the record (changed, added or deleted)."""
        now = {
            str(p.relative_to(copy)): p.read_bytes()
            for p in sorted(copy.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
        return sorted(name for name in set(now) | set(self.files) if now.get(name) != self.files.get(name))

    def restore(self) -> list[str]:
        """Put back every changed or deleted file, remove added ones; the names of those that had changed."""
        with self.lock:
            now = self._read()
            changed = sorted(name for name in set(now) | set(self.files) if now.get(name) != self.files.get(name))
            for name in changed:
                path = self.root / name
                if name in self.files:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(self.files[name])
                else:
                    path.unlink(missing_ok=True)
            return changed


# ----------------------------------------------------------------------------------------------- subprocesses
def _environment(options: GradeOptions, library: Path = _PACKAGE.parent) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(library), *filter(None, [env.get("PYTHONPATH")])])
    env["COURSE_FAST"] = "0" if options.full else "1"
    env["COURSE_STRICT_EXERCISES"] = "0"  # a learner's wrong answer must not stop their notebook
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["COURSE_DATA_DIR"] = env.get("COURSE_DATA_DIR") or str(PROJECT_ROOT / "data")
    # Offline: every HTTP client goes to a port where nothing listens, so a download fails at once, and the
    # hubs that cache models are told not to try.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = "http://127.0.0.1:9"
    for name in ("no_proxy", "NO_PROXY"):
        env.pop(name, None)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_NO_INDEX="1")
    return env


def _limit_memory(megabytes: int) -> None:
    """Cap this process's memory, and so its children's (a kernel): set by each process on itself, because a
    ``preexec_fn`` is unsafe in a grader that runs notebooks from several threads."""
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))  # RLIMIT_AS would refuse torch's reservations


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _kill_kernel(work: Path) -> None:
    """The kernel of a run the grader had to stop (it is in a session of its own)."""
    try:
        pid = int((work / "kernel.pid").read_text())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _run_notebook(submission: Submission, exercises: list[Any], work: Path, options: GradeOptions) -> dict:
    """Run the learner's notebook in a fresh kernel (in a subprocess of its own); what happened, as data."""
    try:
        cells = json.loads(submission.path.read_text(encoding="utf-8"))["cells"]
        plan = plan_captures(cells, exercises)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return {"status": "unreadable", "why": f"the file is not a readable notebook ({type(error).__name__})"}
    (work / "plan.json").write_text(json.dumps({str(k): v for k, v in plan.items()}))
    command = [
        options.python,
        "-P",
        "-m",
        "course_lib.grading",
        "execute",
        str(submission.path),
        str(work),
        "--time-limit",
        str(options.time_limit),
        "--memory-limit",
        str(options.memory_limit_mb),
    ]
    log = (work / "execute.log").open("wb")
    process = subprocess.Popen(
        command,
        env=_environment(options, work / "lib"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=str(work),
    )
    try:
        process.wait(timeout=options.time_limit + 120)  # kernel start and shutdown on top of the notebook's limit
    except subprocess.TimeoutExpired:
        _kill_group(process)
    finally:
        log.close()
        _kill_kernel(work)
    try:
        run = json.loads((work / "run.json").read_text())
    except (OSError, ValueError):
        run = {}
    if not isinstance(run, dict) or run.get("status") in (None, "running"):
        run = dict(
            run if isinstance(run, dict) else {},
            status="stopped",
            why=f"the run was stopped from outside (exit code {process.returncode})",
        )
    return run


def _reason(run: dict, options: GradeOptions) -> str:
    status = run.get("status")
    cell = run.get("cell")
    where = f" at cell {cell}" if cell is not None else ""
    if status == "timed out":
        return f"the notebook stopped{where}: it ran past the {options.time_limit:g} s limit (a loop that never ends?)"
    if status == "kernel died":
        return (
            f"the notebook stopped{where}: its kernel died (memory over the {options.memory_limit_mb} MB limit, "
            "or a crash)"
        )
    return f"the notebook stopped{where}: {run.get('why', status)}"


def _check_answers(
    chapter: Chapter, ids: list[str], work: Path, digests: Path, options: GradeOptions, restore: Any
) -> dict[str, tuple[str, str]]:
    """Check the saved answers in fresh checking processes; one is replaced when it hangs, crashes or is tampered."""
    results: dict[str, tuple[str, str]] = {}
    remaining = list(ids)
    refusals = 0
    while remaining:
        command = [
            options.python,
            "-B",
            "-P",
            "-c",
            _BOOTSTRAP,
            str(_PACKAGE),
            str(options.memory_limit_mb),
            chapter.module,
            str(work / "answers"),
            str(digests),
            ",".join(remaining),
        ]
        with (work / "check.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env=_environment(options),
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                cwd=str(work),
            )
        lines: queue.Queue = queue.Queue()

        def read(stream: Any = process.stdout, lines: queue.Queue = lines) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        first = True
        while remaining:
            try:
                line = lines.get(timeout=options.check_time_limit + (60 if first else 0))  # + start-up
            except queue.Empty:
                _kill_group(process)
                results[remaining.pop(0)] = (
                    FAILED,
                    f"checking this answer did not finish in {options.check_time_limit:g} s: does it loop forever?",
                )
                break
            first = False
            if line is None:  # the process ended before checking everything
                code = process.wait()
                if code == _TAMPERED:  # it gave its verdict and quit: the next exercise gets a fresh process
                    break
                if code == _COURSE_CHANGED and refusals < 3:  # a notebook running in parallel changed a course file
                    refusals += 1
                    restore()
                    break
                results[remaining.pop(0)] = (
                    FAILED,
                    f"checking this answer crashed the checking process (exit code {code}; out of memory?)",
                )
                break
            try:
                reply = json.loads(line)
                ok = reply["id"] == remaining[0] and reply["status"] in (PASSED, FAILED, NOT_ATTEMPTED)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                _kill_group(process)
                results[remaining.pop(0)] = (
                    FAILED,
                    "the checking process received something other than a verdict while checking this answer",
                )
                break
            results[remaining.pop(0)] = (reply["status"], str(reply.get("message", ""))[:_MESSAGE_LIMIT])
        if process.poll() is None and not remaining:
            process.wait(timeout=60)
        if process.poll() is None:
            _kill_group(process)
    return results


def _grade_one(
    submission: Submission, chapter: Chapter, out: Path, course: _CourseFiles, digests: Path, options: GradeOptions
) -> _Outcome:
    start = time.monotonic()
    exercises = chapter.exercises()
    work = out / "answers" / _safe(submission.learner) / submission.notebook
    work.mkdir(parents=True, exist_ok=True)
    # The kernel imports its own copy of course_lib: a notebook that edits a checker file edits that copy (and is
    # named in the summary), never the files the checking processes load.
    shutil.rmtree(work / "lib", ignore_errors=True)
    course.write_copy(work / "lib" / "course_lib")
    if (course.root.parent / "pyproject.toml").exists():  # a checkout: what the library reads beside itself
        for item in course.root.parent.iterdir():
            if item.name != "course_lib" and not item.name.startswith("."):
                (work / "lib" / item.name).symlink_to(item)
    run = _run_notebook(submission, exercises, work, options)
    changed = course.changed_in(work / "lib" / "course_lib")
    shutil.rmtree(work / "lib", ignore_errors=True)
    changed += [f"{name} (the course's own copy; put back)" for name in course.restore()]
    saved = [e.id for e in exercises if (work / "answers" / f"{e.id}.pt").exists()]
    results = _check_answers(chapter, saved, work, digests, options, course.restore) if saved else {}
    rows = []
    for entry in exercises:
        if entry.id in results:
            status, message = results[entry.id]
        elif run.get("status") == "completed":
            status, message = FAILED, "the grader could not read your answer from the notebook's kernel"
        else:
            status, message = FAILED, f"not reached: {_reason(run, options)}"
        rows.append(Row(submission.learner, submission.notebook, entry.id, status, message))
    return _Outcome(rows, run, time.monotonic() - start, changed)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "learner"


def grade(
    paths: Iterable[str | Path],
    out: str | Path,
    options: GradeOptions | None = None,
    chapters: dict[str, Chapter] | None = None,
    progress: Any = print,
) -> tuple[list[Row], dict]:
    """Grade every submission under ``paths``; write the report to ``out``. Returns the rows and a summary."""
    options = options or GradeOptions()
    chapters = chapters if chapters is not None else course_chapters()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    submissions, skipped = find_submissions(paths, chapters)
    for sentence in skipped:
        progress(f"skipped {sentence}")
    course = _CourseFiles()
    digests = out / "answers" / "course_digests.json"
    digests.parent.mkdir(parents=True, exist_ok=True)
    digests.write_text(json.dumps({"root": str(course.root), "files": course.digests()}))

    def one(submission: Submission) -> _Outcome:
        try:
            outcome = _grade_one(submission, chapters[submission.notebook], out, course, digests, options)
        except Exception as error:  # noqa: BLE001 (one bad submission never stops the class)
            message = f"the grader failed on this notebook ({type(error).__name__}: {error}); grade it by hand"
            outcome = _Outcome(
                [
                    Row(submission.learner, submission.notebook, e.id, FAILED, message)
                    for e in chapters[submission.notebook].exercises()
                ],
                {"status": "grader error"},
            )
        counts = {s: sum(r.result == s for r in outcome.rows) for s in (PASSED, FAILED, NOT_ATTEMPTED)}
        progress(
            f"{submission.learner} {submission.notebook}: {counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[NOT_ATTEMPTED]} not attempted ({outcome.seconds:.0f} s; run {outcome.run.get('status')})"
        )
        return outcome

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        outcomes = list(pool.map(one, submissions))
    rows = [row for outcome in outcomes for row in outcome.rows]
    runs = [
        {
            "learner": s.learner,
            "notebook": s.notebook,
            "status": o.run.get("status"),
            "cell": o.run.get("cell"),
            "error_cells": o.run.get("error_cells", []),
            "seconds": round(o.seconds, 1),
            "changed_course_files": o.changed_files,
        }
        for s, o in zip(submissions, outcomes)
    ]
    summary = {
        "submissions": len(submissions),
        "skipped": skipped,
        "seconds": round(time.monotonic() - started, 1),
        "runs": runs,
    }
    write_report(rows, summary, out)
    return rows, summary


# ----------------------------------------------------------------------------------------------- the report
def write_report(rows: list[Row], summary: dict, out: Path) -> None:
    """grades.csv, summary.md and summary.png (per exercise: how many passed, failed, did not try)."""
    with (out / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", "notebook", "exercise", "result", "message"])
        writer.writerows([r.learner, r.notebook, r.exercise, r.result, r.message] for r in rows)
    (out / "runs.json").write_text(json.dumps(summary, indent=1))
    exercises = list(dict.fromkeys((r.notebook, r.exercise) for r in rows))
    counts = {
        key: {
            s: sum(1 for r in rows if (r.notebook, r.exercise) == key and r.result == s)
            for s in (PASSED, FAILED, NOT_ATTEMPTED)
        }
        for key in exercises
    }
    learners = sorted({r.learner for r in rows})
    notebooks = list(dict.fromkeys(r.notebook for r in rows))
    lines = [
        "# Grades",
        "",
        f"{summary['submissions']} notebooks graded in {summary['seconds']:.0f} s. "
        "Every verdict comes from the chapter's checker, run by the grader on what each notebook defined; "
        "the full messages are in grades.csv.",
        "",
        "![passed per exercise](summary.png)",
        "",
        "## Per exercise (hardest first)",
        "",
        "| notebook | exercise | passed | failed | not attempted |",
        "|---|---|---:|---:|---:|",
    ]
    for key in sorted(exercises, key=lambda k: (counts[k][PASSED], k)):
        c = counts[key]
        lines.append(f"| {key[0]} | {key[1]} | {c[PASSED]} | {c[FAILED]} | {c[NOT_ATTEMPTED]} |")
    lines += [
        "",
        "## Per learner",
        "",
        "| learner | " + " | ".join(notebooks) + " | total |",
        "|---|" + "---:|" * (len(notebooks) + 1),
    ]
    for learner in learners:
        cells, passed, total = [], 0, 0
        for notebook in notebooks:
            mine = [r for r in rows if r.learner == learner and r.notebook == notebook]
            got = sum(r.result == PASSED for r in mine)
            passed, total = passed + got, total + len(mine)
            cells.append(f"{got}/{len(mine)}" if mine else "–")
        lines.append(f"| {learner} | " + " | ".join(cells) + f" | {passed}/{total} |")
    troubled = [
        run
        for run in summary["runs"]
        if run["status"] != "completed" or run["error_cells"] or run["changed_course_files"]
    ]
    if troubled or summary["skipped"]:
        lines += ["", "## Notebooks to look at", ""]
        for run in troubled:
            notes = []
            if run["status"] != "completed":
                notes.append(f"stopped ({run['status']}) at cell {run['cell']}")
            if run["error_cells"]:
                notes.append(f"cells that raised: {', '.join(map(str, run['error_cells'][:10]))}")
            if run["changed_course_files"]:
                notes.append(
                    f"it changed course files (its kernel's copy; graded with the course's own): "
                    f"{', '.join(run['changed_course_files'][:5])}"
                )
            lines.append(f"- {run['learner']} {run['notebook']}: " + "; ".join(notes))
        lines += [f"- skipped {sentence}" for sentence in summary["skipped"]]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _plot(exercises, counts, out / "summary.png")


def _plot(exercises: list[tuple[str, str]], counts: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = [f"{notebook} {exercise}" for notebook, exercise in exercises]
    figure, axes = plt.subplots(figsize=(9, 0.4 * len(labels) + 1.2))
    left = [0] * len(labels)
    for status, color in ((PASSED, "#2e7d32"), (FAILED, "#c62828"), (NOT_ATTEMPTED, "#9e9e9e")):
        values = [counts[key][status] for key in exercises]
        axes.barh(labels, values, left=left, color=color, label=status)
        left = [a + b for a, b in zip(left, values)]
    axes.invert_yaxis()
    axes.set_xlabel("learners")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    axes.set_title("Results per exercise")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ----------------------------------------------------------------------------------------------- inside the processes
def _execute(notebook: Path, work: Path, time_limit: float) -> None:
    """The ``execute`` process: run the notebook cell by cell; save answers after the planned cells."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    plan = {int(k): v for k, v in json.loads((work / "plan.json").read_text()).items()}
    nb = nbformat.read(str(notebook), as_version=4)
    run: dict[str, Any] = {"status": "running", "cell": None, "error_cells": [], "captured": []}

    def save() -> None:
        (work / "run.json").write_text(json.dumps(run))

    save()
    cwd = work / "cwd"
    cwd.mkdir(exist_ok=True)
    deadline = time.monotonic() + time_limit
    client = NotebookClient(
        nb,
        timeout=int(time_limit),
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        with client.setup_kernel():
            process = getattr(getattr(client.km, "provisioner", None), "process", None)
            if process is not None:
                (work / "kernel.pid").write_text(str(process.pid))
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                run["cell"] = index
                save()
                client.timeout = max(1, int(deadline - time.monotonic()))
                client.execute_cell(cell, index)
                if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
                    run["error_cells"].append(index)
                if index in plan:
                    capture = nbformat.v4.new_code_cell(
                        "import course_lib.grading_answers as _course_grading_answers\n"
                        f"_course_grading_answers.capture(globals(), {plan[index]!r}, {str(work / 'answers')!r})\n"
                        "del _course_grading_answers"
                    )
                    client.timeout = max(1, min(120, int(deadline - time.monotonic())))
                    client.execute_cell(capture, index)
                    run["captured"] += list(plan[index])
        run["status"] = "completed"
    except CellTimeoutError:
        run["status"] = "timed out"
    except DeadKernelError:
        run["status"] = "kernel died"
    except Exception as error:  # noqa: BLE001 (anything else: say what, and keep what was captured)
        run["status"], run["why"] = "stopped", f"{type(error).__name__}: {str(error)[:300]}"
    finally:
        save()
        try:
            nbformat.write(nb, str(work / "executed.ipynb"))
        except Exception:  # noqa: BLE001
            pass


#: The checking process starts here (``python -B -c _BOOTSTRAP ROOT ...``): before anything of course_lib is
#: imported, it makes course_lib load from its source files only (never cached bytecode a notebook could have
#: forged) and records each file's digest, which ``_check`` compares with the grader's record.
_BOOTSTRAP = """
import hashlib, importlib.machinery, resource, sys
from pathlib import Path
LIMIT = int(sys.argv[2]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_DATA, (LIMIT, LIMIT))
ROOT = Path(sys.argv[1]).resolve()
READ = {}
class SourceOnly(importlib.machinery.SourceFileLoader):
    def path_stats(self, path):
        raise OSError("compile from source")
    def get_data(self, path):
        data = super().get_data(path)
        READ[str(Path(path).resolve().relative_to(ROOT))] = hashlib.sha256(data).hexdigest()
        return data
class SourceOnlyFinder:
    read = READ
    def find_spec(self, name, path=None, target=None):
        if name != "course_lib" and not name.startswith("course_lib."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path if path is not None else [str(ROOT.parent)])
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = SourceOnly(spec.loader.name, spec.loader.path)
        return spec
sys.meta_path.insert(0, SourceOnlyFinder())
sys.dont_write_bytecode = True
import course_lib.grading
sys.exit(course_lib.grading._check(READ, *sys.argv[3:]))
"""


def _watched() -> dict[str, Any]:
    import builtins
    import math

    import torch

    spaces: dict[str, Any] = {
        name: vars(module)
        for name, module in list(sys.modules.items())
        if name == "course_lib" or name.startswith("course_lib.")
    }
    for module in (torch, torch.nn.functional, torch.linalg, torch.special, torch.autograd, builtins, math):
        spaces[module.__name__] = vars(module)
    spaces["torch.Tensor"] = torch.Tensor.__dict__
    spaces["torch._C.TensorBase"] = torch._C.TensorBase.__dict__
    spaces["torch.nn.Module"] = torch.nn.Module.__dict__
    return spaces


def _snapshot() -> dict[tuple[str, str], Any]:
    return {(space, key): value for space, names in _watched().items() for key, value in list(names.items())}


def _changed(before: dict[tuple[str, str], Any]) -> list[str]:
    spaces = _watched()
    missing = object()
    return [
        f"{space}.{key}"
        for (space, key), value in before.items()
        if spaces.get(space, {}).get(key, missing) is not value
    ]


def _check(read: dict[str, str], chapter_module: str, answers: str, digests_path: str, ids: str) -> int:
    """The ``check`` process (started through ``_BOOTSTRAP``, which fills ``read``: the digests of the course_lib
    files it loaded): verdicts as JSON lines on the real stdout; the learner's prints go nowhere."""
    verdicts = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    expected = json.loads(Path(digests_path).read_text())
    root = Path(expected["root"]).resolve()
    import importlib

    import torch

    torch.set_num_threads(1)
    module = importlib.import_module(f"course_lib.exercises.{chapter_module}")
    from course_lib.exercises.core import NOT_ATTEMPTED as _NOT_ATTEMPTED
    from course_lib.exercises.core import run_checker

    from . import grading_answers

    loaded = [
        Path(m.__file__).resolve()
        for name, m in list(sys.modules.items())
        if (name == "course_lib" or name.startswith("course_lib.")) and getattr(m, "__file__", None)
    ]
    unverified = [str(path) for path in loaded if root not in path.parents or str(path.relative_to(root)) not in read]
    wrong = [name for name, digest in read.items() if expected["files"].get(name) != digest]
    if wrong or unverified:
        print(f"course files differ from the grader's record: {wrong + unverified}", file=sys.stderr)
        return _COURSE_CHANGED
    registry = {entry.id: entry for entry in module.EXERCISES}
    before = _snapshot()
    for exercise_id in ids.split(","):
        entry = registry[exercise_id]
        status, message = _check_one(
            entry, Path(answers) / f"{exercise_id}.pt", grading_answers, run_checker, _NOT_ATTEMPTED
        )
        changed = _changed(before)
        if changed:
            status, message = (
                FAILED,
                (
                    f"your code changed {', '.join(changed[:3])} while it was being checked; answers are graded by the "
                    "course's own checker, so remove the code that changes it"
                ),
            )
        verdicts.write(json.dumps({"id": exercise_id, "status": status, "message": message}) + "\n")
        verdicts.flush()
        if changed:
            return _TAMPERED  # the next exercise gets a fresh process
    return 0


def _check_one(entry: Any, path: Path, grading_answers: Any, run_checker: Any, not_attempted: str) -> tuple[str, str]:
    import torch

    try:
        payload = torch.load(path, weights_only=True)
        answers, uncarried = grading_answers.rebuild(payload, entry.id)
    except grading_answers.RebuildError as error:
        return FAILED, f"the grader could not rebuild your answer: {error}"
    except Exception as error:  # noqa: BLE001 (a damaged or forged answer file)
        return FAILED, f"the grader could not read your answer ({type(error).__name__})"
    missing = [name for name in entry.names if name not in answers]
    if missing:
        return not_attempted, (
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not defined when the "
            "notebook reaches this exercise"
        )
    result = run_checker(entry.checker, *(answers[name] for name in entry.names))
    message = result.message
    if result.status == FAILED and uncarried:
        message += f" (The grader could not carry these names your code uses: {'; '.join(uncarried[:3])}.)"
    return result.status, message


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.grading execute ...``: the process that runs a notebook (the grader starts it)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading")
    commands = parser.add_subparsers(dest="command", required=True)
    execute = commands.add_parser("execute")
    execute.add_argument("notebook", type=Path)
    execute.add_argument("work", type=Path)
    execute.add_argument("--time-limit", type=float, default=600.0)
    execute.add_argument("--memory-limit", type=int, default=4096)
    args = parser.parse_args(argv)
    _limit_memory(args.memory_limit)
    _execute(args.notebook, args.work, args.time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
