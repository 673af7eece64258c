"""``make demo``: release the lessons, grade a small made-up class end to end, print the table."""

from pathlib import Path

import nbformat

from autograder.course import lesson_ids
from autograder.grade import NOT_GRADED, grade
from autograder.release import release
from autograder.submissions import answer_cells, reference_answers, submission


def demo_class(lesson: str, folder: Path) -> None:
    """Write four submissions: complete, blank, half done, and a file that is not a notebook."""
    folder.mkdir(parents=True, exist_ok=True)
    answers = reference_answers(lesson)
    first_half = answer_cells(lesson)[: len(answers) // 2]
    nbformat.write(submission(lesson, answers), folder / "ada.ipynb")
    nbformat.write(submission(lesson, {}), folder / "ben.ipynb")
    nbformat.write(submission(lesson, {k: answers[k] for k in first_half}), folder / "cleo.ipynb")
    (folder / "dev.ipynb").write_text('{"cells": [ this upload was cut off')


def main(out: Path = Path("demo-out"), lesson: str | None = None) -> int:
    lesson = lesson or lesson_ids()[0]
    print("1. Building the student release (lessons/ from solutions/) ...")
    for path in release():
        print(f"   {path.relative_to(path.parents[2])}")
    print(f"2. A demo class for {lesson} in {out / 'submissions'}: ada (complete), ben (blank), "
          "cleo (half done), dev (broken upload)")
    demo_class(lesson, out / "submissions")
    print("3. Grading with nbgrader (2 workers) ...")
    rows = grade(lesson, out / "submissions", out, workers=2)
    print()
    print(f"{'student':10s} {'score':>6s} {'max':>5s}  {'status':12s} {'manual':>7s}")
    for row in rows:
        if row.status in NOT_GRADED:
            manual = "-"
        else:
            manual = f"{row.manual_score if row.manual_score != '' else '?'}/{row.manual_max_score:g}"
        print(f"{row.student:10s} {row.score:6g} {row.max_score:5g}  {row.status:12s} {manual:>7s}")
    print()
    print(f"grade table:    {out / 'grades.csv'}")
    print(f"feedback pages: {out / 'feedback'}/<student>/{lesson}.html")
    print("written answers await manual grading ('?'): nbgrader's formgrader, see README")
    return 0
