"""Made-up classes of submissions, one module per lesson, each student with the grade they must get.

Each ``lesson_NN.py`` defines ``STUDENTS``; ``CLASSES`` maps lesson ids to them.

A student is a set of answers (grade id -> source) laid over the reference answers, or a file
written by hand (``raw``), plus optional edits to locked cells (``tamper``).
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

from autograder.course import REPO
from autograder.submissions import reference_answers, submission


@dataclass
class Student:
    name: str
    score: float
    status: str = "ok"
    answers: dict = field(default_factory=dict)  # overrides of the reference answers
    blank: bool = False  # start from the blank release instead of the reference
    tamper: dict = field(default_factory=dict)  # grade id of a locked cell -> new source
    raw: str | None = None  # the file's whole text, for broken uploads
    edit: Callable | None = None  # changes the notebook any other way (metadata, copied cells)

    def write(self, lesson: str, folder) -> None:
        path = folder / f"{self.name}.ipynb"
        if self.raw is not None:
            path.write_text(self.raw)
            return
        answers = {} if self.blank else reference_answers(lesson)
        nb = submission(lesson, {**answers, **self.answers})
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in self.tamper:
                cell.source = self.tamper[grade_id]
        if self.edit is not None:
            self.edit(nb)
        nbformat.write(nb, path)


NOT_A_LESSON = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]))



def _collect() -> dict[str, list[Student]]:
    classes = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("lesson_"):
            students = importlib.import_module(f"{__name__}.{module.name}").STUDENTS
            lesson = next(p.name for p in (REPO / "solutions").iterdir() if p.name.startswith(module.name[7:] + "-"))
            classes[lesson] = students
    return classes


CLASSES = _collect()
