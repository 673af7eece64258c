"""Every solution notebook executed, one after another, as a student's machine would run it."""

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.course import SOLUTIONS, lesson_ids


def execute_seconds(path: Path) -> float:
    """Wall-clock seconds to run the notebook at ``path`` in a fresh kernel, kernel start included."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def course_seconds() -> dict:
    """``course_seconds_total`` and ``course_seconds_<lesson>`` for every lesson."""
    results = {f"course_seconds_{lesson}": execute_seconds(SOLUTIONS / lesson / f"{lesson}.ipynb")
               for lesson in lesson_ids()}
    results["course_seconds_total"] = sum(results.values())
    return results
