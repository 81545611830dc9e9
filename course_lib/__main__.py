"""Command line: ``python -m course_lib doctor``, ``python -m course_lib student-edition OUT`` and
``python -m course_lib grade SUBMISSIONS... --out DIR``."""

from __future__ import annotations

import argparse
import sys

from .config import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description="Tools for the deep-learning course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check versions, device and data, and say what to fix")
    edition = commands.add_parser("student-edition", help="copy the notebooks without solution cells")
    edition.add_argument("out", help="folder to write the student notebooks to")
    edition.add_argument("--notebooks", default=str(PROJECT_ROOT / "notebooks"), help="source folder")
    edition.add_argument("--force", action="store_true", help="overwrite notebooks in OUT that were changed")
    grade = commands.add_parser(
        "grade",
        help="grade learners' notebooks with the chapters' checkers",
        description="Run each learner's notebook in a fresh kernel and grade every exercise "
        "with its chapter's checker; write grades.csv and summary.md to OUT.",
    )
    grade.add_argument(
        "submissions",
        nargs="+",
        help="a learner's folder of notebooks, notebooks named by learner (alice_01_tensors.ipynb), "
        "or a class folder holding either",
    )
    grade.add_argument("--out", required=True, help="folder for grades.csv, summary.md, summary.png and answers/")
    grade.add_argument("--full", action="store_true", help="run the notebooks in full mode (default: fast mode)")
    grade.add_argument("--time-limit", type=float, default=600, help="seconds each notebook may run (600)")
    grade.add_argument("--memory-limit", type=int, default=4096, help="MB of memory each kernel may use (4096)")
    grade.add_argument("--check-time-limit", type=float, default=120, help="seconds to check one answer (120)")
    grade.add_argument("--jobs", type=int, default=1, help="notebooks run at once (1; each kernel needs a core)")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from .doctor import main as doctor

        return doctor()
    if args.command == "grade":
        from .grading import GradeOptions
        from .grading import grade as grade_class

        options = GradeOptions(
            full=args.full,
            time_limit=args.time_limit,
            memory_limit_mb=args.memory_limit,
            check_time_limit=args.check_time_limit,
            jobs=args.jobs,
        )
        rows, summary = grade_class(args.submissions, args.out, options)
        if not summary["submissions"]:
            print("grade: no chapter notebooks with exercises found in the paths given.", file=sys.stderr)
            return 2
        print(
            f"Graded {summary['submissions']} notebooks ({len(rows)} exercises) in {summary['seconds']:.0f} s: "
            f"see {args.out}/summary.md and {args.out}/grades.csv"
        )
        return 0
    from .editions import EditionError, make_student_edition

    try:
        removed = make_student_edition(args.notebooks, args.out, force=args.force)
    except EditionError as error:  # one sentence that says what to do, not a traceback
        print(f"student-edition: {error}", file=sys.stderr)
        return 2
    for name, count in removed.items():
        print(f"{name}: {count} solution cell(s) removed")
    print(f"Student edition written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
