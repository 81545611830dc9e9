"""Command line: ``python -m course_lib doctor`` and ``python -m course_lib student-edition OUT``."""
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
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from .doctor import main as doctor

        return doctor()
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
