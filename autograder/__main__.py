"""Command line: ``python -m autograder {release,grade,demo}``; ``--help`` on each says more."""

import argparse
import sys
from pathlib import Path

from autograder.course import DEFAULT_CELL_TIMEOUT, CourseError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    rel = commands.add_parser("release", help="regenerate lessons/ (the student release) from solutions/")
    rel.add_argument("lessons", nargs="*", help="lesson ids (default: all)")

    grd = commands.add_parser("grade", help="grade a flat folder of <student>.ipynb submissions")
    grd.add_argument("lesson", help="lesson id, e.g. 01-copy-through")
    grd.add_argument("submissions", type=Path, help="folder of <student>.ipynb files, as a learning platform exports them")
    grd.add_argument("--out", type=Path, required=True, help="output folder: grades.csv, feedback/, nbgrader/ (the gradebook)")
    grd.add_argument("--workers", type=int, default=1, help="submissions graded in parallel (default 1)")
    grd.add_argument("--timeout", type=int, default=DEFAULT_CELL_TIMEOUT,
                     help=f"seconds a cell may run before it is interrupted (default {DEFAULT_CELL_TIMEOUT})")
    grd.add_argument("--notebook-timeout", type=float, default=600, help="seconds a whole submission may take (default 600)")
    grd.add_argument("--memory", type=int, default=4096, help="memory cap of the grading kernel in MiB (default 4096)")
    grd.add_argument("--db", default=None, help="gradebook SQLAlchemy URL (default: SQLite in OUT/nbgrader)")
    grd.add_argument("--device", default="cpu",
                     help="where students' code computes: cpu (default, reproducible), cuda, cuda:N, mps")
    grd.add_argument("--no-sandbox", action="store_true",
                     help="run kernels without bubblewrap (resource limits only); only for trusted submissions")

    dem = commands.add_parser("demo", help="release, then grade a small demo class end to end")
    dem.add_argument("--out", type=Path, default=Path("demo-out"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "release":
            from autograder.release import release

            for path in release(args.lessons or None):
                print(path)
        elif args.command == "grade":
            from autograder.grade import grade

            rows = grade(args.lesson, args.submissions, args.out, workers=args.workers, cell_timeout=args.timeout,
                         notebook_timeout=args.notebook_timeout, memory_mb=args.memory, db_url=args.db,
                         sandbox=not args.no_sandbox, device=args.device)
            not_ok = sum(row.status != "ok" for row in rows)
            print(f"graded {len(rows)} submission(s), {not_ok} with a status other than ok: {args.out / 'grades.csv'}")
        else:
            from autograder.demo import main as demo

            return demo(args.out)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
