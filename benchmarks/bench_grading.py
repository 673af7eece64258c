"""Grading a class: stock ``nbgrader autograde`` (serial) against ``autograder grade --workers 2``,
and our time per notebook against the notebook's own work."""

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from autograder.course import SOLUTIONS, compute_env, run_nbgrader
from autograder.grade import grade
from autograder.submissions import reference_answers, submission


def _stock_nbgrader(lesson: str, folder: Path, root: Path) -> tuple[float, dict]:
    """nbgrader as it comes: one ``autograde`` command for the whole class. Returns (seconds, scores)."""
    shutil.copytree(SOLUTIONS / lesson, root / "source" / lesson)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\nc.Execute.timeout = 600\n")
    run_nbgrader(root, "generate_assignment", lesson, "--log-level=WARN")
    for path in sorted(folder.glob("*.ipynb")):
        target = root / "submitted" / path.stem / lesson
        target.mkdir(parents=True)
        shutil.copyfile(path, target / f"{lesson}.ipynb")
    start = time.perf_counter()
    result = run_nbgrader(root, "autograde", lesson, "--log-level=WARN")
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"stock nbgrader failed:\n{result.stdout[-2000:]}")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(lesson)}
    return seconds, scores


def _graded_part(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` up to its last graded cell: the part our grader runs."""
    graded = [i for i, cell in enumerate(nb.cells) if cell.metadata.get("nbgrader", {}).get("grade")]
    part = nbformat.from_dict(nb)
    part.cells = part.cells[: graded[-1] + 1]
    return part


def _own_seconds(nb: nbformat.NotebookNode, threads: int) -> float:
    """Seconds to run ``nb`` in a fresh plain kernel on ``threads`` threads (kernel start included)."""
    env = {**os.environ, **compute_env(threads)}
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": tempfile.gettempdir()}}).execute(env=env)
    return time.perf_counter() - start


def notebook_own_seconds(notebooks: list, workers: int) -> float:
    """The notebooks' own work, per notebook: the graded part of each distinct notebook run in a plain
    kernel, ``workers`` copies at once with the share of cores a grading kernel gets, and averaged
    over ``notebooks`` (repeats counted as often as they occur)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    distinct = {nbformat.writes(nb): nb for nb in notebooks}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        own = {key: sum(pool.map(_own_seconds, [_graded_part(nb)] * workers, [threads] * workers)) / workers
               for key, nb in distinct.items()}
    return sum(own[nbformat.writes(nb)] for nb in notebooks) / len(notebooks)


def grading(lesson: str = "01-copy-through", class_size: int = 40, workers: int = 2) -> dict:
    """Both graders on the same class (complete, blank and half-done submissions in turn); every
    student's score must agree between stock nbgrader's serial run and ours in parallel."""
    answers = reference_answers(lesson)
    half = dict(list(answers.items())[: len(answers) // 2])
    kinds = [submission(lesson, answers), submission(lesson, {}), submission(lesson, half)]
    with tempfile.TemporaryDirectory(prefix="aelib-bench-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "export"
        folder.mkdir()
        notebooks = [kinds[i % len(kinds)] for i in range(class_size)]
        for i, nb in enumerate(notebooks):
            nbformat.write(nb, folder / f"student{i:02d}.ipynb")
        stock_seconds, stock_scores = _stock_nbgrader(lesson, folder, tmp / "stock")
        start = time.perf_counter()
        rows = grade(lesson, folder, tmp / "ours", workers=workers)
        ours_seconds = time.perf_counter() - start
    ours_scores = {row.student: row.score + (row.manual_score or 0) for row in rows}
    if len(rows) != class_size or any(row.status != "ok" for row in rows):
        raise RuntimeError(f"expected {class_size} rows, all ok: {[(r.student, r.status) for r in rows]}")
    if ours_scores != stock_scores:
        raise RuntimeError(f"the graders disagree: stock {stock_scores}, ours {ours_scores}")
    per_notebook = ours_seconds * workers / class_size  # a worker's time per submission
    own = notebook_own_seconds(notebooks, workers)
    return {"grading_parallel_speedup": stock_seconds / ours_seconds, "grading_class_size": class_size,
            "grading_workers": workers, "grading_stock_seconds": stock_seconds, "grading_ours_seconds": ours_seconds,
            "grading_seconds_per_notebook": per_notebook, "grading_notebook_own_seconds": own,
            "grading_overhead_seconds_per_notebook": per_notebook - own}
