"""Build student submissions from the release: the demo class and the grading tests use these."""

import copy

import nbformat

from autograder.course import LESSONS, SOLUTIONS


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def answer_cells(lesson: str) -> list[str]:
    """Grade ids of the cells a student fills in (code answers and written answers), in order."""
    nb = nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
    return [_grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def reference_answers(lesson: str) -> dict[str, str]:
    """The instructor's answer for every answer cell, by grade id, without solution markers."""
    nb = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    answers = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in
                     ("### BEGIN SOLUTION", "### END SOLUTION")]
            answers[_grade_id(cell)] = "\n".join(lines)
    return answers


def submission(lesson: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student release of ``lesson`` with the answer cells in ``answers`` (grade id -> source) filled in."""
    nb = copy.deepcopy(nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4))
    unknown = set(answers) - set(answer_cells(lesson))
    if unknown:
        raise KeyError(f"not answer cells of {lesson}: {sorted(unknown)}")
    for cell in nb.cells:
        if _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return nb
