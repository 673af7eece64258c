"""The grading thresholds written in the solution notebooks, for the calibration tests to check."""

import ast
import re

import nbformat

from autograder.course import SOLUTIONS

VISIBLE = re.compile(r"checks\.calibrated\(DATASET, (\{.*?\})\)")
HIDDEN = re.compile(r"= (\{[^\n]*?\})\[DATASET\]")


def calibrated(lesson: str, grade_id: str, dataset: str = "digits"):
    """The threshold(s) test cell ``grade_id`` of ``lesson`` uses for ``dataset``.

    The cell's visible part (``checks.calibrated(DATASET, {...})``) and its hidden part
    (``{...}[DATASET]``) must hold the same values; a cell with several thresholds holds a tuple.
    """
    nb = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    visible = [ast.literal_eval(m) for m in VISIBLE.findall(source)]
    hidden = [ast.literal_eval(m) for m in HIDDEN.findall(source)]
    assert len(visible) == 1 and hidden == visible, f"{lesson} {grade_id}: visible {visible}, hidden {hidden}"
    return visible[0][dataset]
