"""Grade a flat folder of submissions with nbgrader and write one row per student.

The steps for ``grade(lesson, folder, out)``:

1. prepare a course under ``out/nbgrader`` (source copied from ``solutions/``, the assignment
   generated into the gradebook, a grading kernel with a memory cap);
2. for every ``<student>.ipynb`` in the folder, in parallel: inspect it against the release
   (unreadable, wrong lesson, tampered), copy it into nbgrader's layout and autograde it with
   nbgrader (test cells restored from the gradebook, a time limit per cell and per notebook), in
   one long-lived :mod:`autograder.worker` process per worker;
3. ``nbgrader generate_feedback`` and ``nbgrader export`` once for the class;
4. ``out/grades.csv`` from the gradebook, and feedback pages in ``out/feedback/<student>/``.

A submission that cannot be graded gets a row with a non-ok status and no score in the gradebook,
so a failed regrade never leaves an older score behind.
"""

import csv
import os
import queue
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.course import (DEFAULT_CELL_TIMEOUT, SOLUTIONS, CourseError, require_lesson, run_nbgrader, write_config,
                              write_kernel)
from autograder.inspect_submission import inspect
from autograder.sandbox import unavailable as sandbox_unavailable
from autograder.worker import Autograded, AutogradeWorker

STATUSES = {
    "ok": "graded normally",
    "tampered": "graded, but a test or locked cell was edited, deleted, duplicated or re-labelled "
                "(the original cells were restored before grading)",
    "timeout": "a cell ran past --timeout (interrupted, the rest was graded) or the notebook past "
               "--notebook-timeout (not graded)",
    "memory": "a cell ran out of the kernel's memory cap (the rest was graded)",
    "kernel-died": "the kernel died while grading (graded: the tests after it got no points)",
    "unreadable": "the file is not a readable notebook (not graded)",
    "wrong-lesson": "the notebook holds none of this lesson's exercises (not graded)",
    "error": "grading failed on this submission (not graded); see the detail column",
}
NOT_GRADED = {"unreadable", "wrong-lesson", "error"}
FIRST_SANDBOX_UID = 60000  # worker k's kernels run as user FIRST_SANDBOX_UID + k
NO_SANDBOX_WARNING = (
    "WARNING: grading WITHOUT a sandbox ({reason}). Submissions run with time, memory and process "
    "limits only: their code can read whatever this user can read (solutions/, the gradebook, other "
    "submissions) and reach the network. Install bubblewrap (apt-get install bubblewrap) to sandbox them."
)


@dataclass
class Row:
    """One line of grades.csv. ``score``/``max_score`` count autograded points only."""

    student: str
    lesson: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "ok"
    manual_score: float | str = ""
    manual_max_score: float = 0.0
    detail: str = ""


def student_ids(files: list[Path]) -> dict[str, Path]:
    """Map each file to a student id nbgrader accepts (letters, digits, ``._@+-``), kept unique."""
    ids: dict[str, Path] = {}
    for path in files:
        base = re.sub(r"[^A-Za-z0-9._@+-]", "_", path.stem).strip(".") or "student"
        candidate, n = base, 1
        while candidate in ids:
            n += 1
            candidate = f"{base}-{n}"
        ids[candidate] = path
    return ids


def prepare_course(lesson: str, root: Path, *, db_url, cell_timeout: int, memory_mb: int, threads: int,
                   sandboxed: bool, device: str = "cpu") -> Path:
    """Set up nbgrader's folders under ``root`` and (re)generate ``lesson``; return the jupyter path."""
    source = root / "source"
    shutil.rmtree(source / lesson, ignore_errors=True)
    shutil.copytree(SOLUTIONS / lesson, source / lesson)
    write_config(root, source=Path("source"), release=Path("release"), db_url=db_url, cell_timeout=cell_timeout)
    jupyter_path = write_kernel(root, memory_mb, threads, sandboxed, device)
    result = run_nbgrader(root, "generate_assignment", lesson, "--force", "--log-level=WARN")
    if result.returncode != 0:
        raise CourseError(f"nbgrader generate_assignment failed for {lesson}: {result.stdout.strip()[-500:]}")
    return jupyter_path


def _forget(db_url: str, lesson: str, student: str) -> None:
    """Remove any earlier submission of ``student`` from the gradebook."""
    with Gradebook(db_url) as gb:
        try:
            gb.remove_submission(lesson, student)
        except MissingEntry:
            pass


def _error_names(notebook: Path) -> set[str]:
    """Names of the errors raised in the graded notebook's cells."""
    nb = nbformat.read(notebook, as_version=4)
    return {out.get("ename", "") for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"}


class Grader:
    """Grades one lesson's submissions in a course folder; one instance per ``grade`` call."""

    def __init__(self, lesson: str, root: Path, db_url: str, jupyter_path: Path, notebook_timeout: float,
                 sandboxed: bool, workers: int):
        self.lesson, self.root, self.db_url = lesson, root, db_url
        self.jupyter_path, self.notebook_timeout, self.sandboxed = jupyter_path, notebook_timeout, sandboxed
        self.release_nb = nbformat.read(root / "release" / lesson / f"{lesson}.ipynb", as_version=4)
        self.private = Path(tempfile.mkdtemp(prefix="aelib-kernels-"))
        self.workers: queue.Queue[AutogradeWorker] = queue.Queue()
        for slot in range(workers):
            self.workers.put(self._worker(slot))

    def _worker(self, slot: int) -> AutogradeWorker:
        """Worker ``slot``'s grading process. Sandboxed, its kernels' connection file and ZeroMQ
        sockets live in a private folder, and they run as the worker's own user id."""
        settings, env = {}, {"JUPYTER_PATH": str(self.jupyter_path)}
        if self.sandboxed:
            folder = self.private / str(slot)
            folder.mkdir()
            settings = {"KernelManager": {"transport": "ipc", "ip": str(folder / "ipc"),
                                          "connection_file": str(folder / "kernel.json")}}
            env["AELIB_SANDBOX_UID"] = str(FIRST_SANDBOX_UID + slot)
        return AutogradeWorker(self.root, self.lesson, settings, env, log=self.root / f"worker-{slot}.log")

    def close(self) -> None:
        """Stop every worker's process and remove their private folders."""
        while not self.workers.empty():
            self.workers.get().stop()
        shutil.rmtree(self.private, ignore_errors=True)

    def _clear(self, student: str) -> None:
        for step in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.root / step / student / self.lesson, ignore_errors=True)

    def grade_one(self, student: str, path: Path) -> Row:
        """Inspect and autograde one submission; the row's scores are filled in later. Whatever goes
        wrong with one submission ends in its own row (status ``error``), never in the batch."""
        try:
            return self._grade_one(student, path)
        except Exception as err:
            try:
                _forget(self.db_url, self.lesson, student)
                self._clear(student)
            except Exception:
                pass
            return Row(student, self.lesson, status="error", detail=f"{type(err).__name__}: {err}"[:200])

    def _grade_one(self, student: str, path: Path) -> Row:
        self._clear(student)
        row = Row(student, self.lesson)
        found = inspect(path, self.release_nb)
        row.status, row.detail = found.status, found.detail
        if found.status in NOT_GRADED:
            _forget(self.db_url, self.lesson, student)
            return row
        target = self.root / "submitted" / student / self.lesson
        target.mkdir(parents=True)
        nbformat.write(found.notebook, target / f"{self.lesson}.ipynb")
        result = self._autograde(student)
        graded = self.root / "autograded" / student / self.lesson / f"{self.lesson}.ipynb"
        if result is None or not result.success or not graded.exists():
            _forget(self.db_url, self.lesson, student)
            self._clear(student)
            if result is None:
                row.status, row.detail = "timeout", f"the notebook ran past {self.notebook_timeout:g} s"
            else:
                last = result.log.strip().splitlines()[-1][:160] if result.log.strip() else ""
                row.status, row.detail = "error", f"{last} (nbgrader's log: {self.root}/worker-*.log)"
            return row
        errors = _error_names(graded)
        if "DeadKernelError" in errors:
            row.status, row.detail = "kernel-died", "the kernel died; the tests after it got no points"
        elif row.status == "ok" and "CellTimeoutError" in errors:
            row.status, row.detail = "timeout", "a cell ran past the time limit and was interrupted"
        elif row.status == "ok" and "MemoryError" in errors:
            row.status, row.detail = "memory", "a cell ran out of memory"
        return row

    def _autograde(self, student: str) -> Autograded | None:
        """Autograde one student on a free worker; None when it ran past the notebook timeout."""
        worker = self.workers.get()
        try:
            return worker.autograde(student, self.notebook_timeout)
        finally:
            self.workers.put(worker)

    def fill_scores(self, rows: list[Row]) -> None:
        """Read autograded and manual points for every row from the gradebook."""
        with Gradebook(self.db_url) as gb:
            notebook = gb.find_notebook(self.lesson, self.lesson)
            manual = {cell.name for cell in notebook.solution_cells}
            for row in rows:
                row.max_score = sum(c.max_score for c in notebook.grade_cells if c.name not in manual)
                row.manual_max_score = sum(c.max_score for c in notebook.grade_cells if c.name in manual)
                if row.status in NOT_GRADED or row.status == "timeout" and "notebook" in row.detail:
                    continue
                submitted = gb.find_submission_notebook(self.lesson, self.lesson, row.student)
                row.score = sum(g.score for g in submitted.grades if g.name not in manual)
                manual_grades = [g for g in submitted.grades if g.name in manual]
                if not any(g.needs_manual_grade for g in manual_grades):
                    row.manual_score = sum(g.score for g in manual_grades)


def write_csv(rows: list[Row], path: Path) -> None:
    """Write ``rows`` to ``path`` atomically (a half-written file never replaces a good one)."""
    partial = path.with_suffix(".csv.partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    os.replace(partial, path)


def grade(lesson: str, submissions: Path, out: Path, *, workers: int = 1, cell_timeout: int = DEFAULT_CELL_TIMEOUT,
          notebook_timeout: float = 600, memory_mb: int = 4096, db_url: str | None = None,
          sandbox: bool = True, device: str = "cpu") -> list[Row]:
    """Grade every ``*.ipynb`` in ``submissions`` for ``lesson``; write ``out/grades.csv`` and feedback.

    ``sandbox``: run each kernel in :mod:`autograder.sandbox` where this machine allows it (a warning
    on stderr, once, where it does not). ``device``: where students' code computes (``cpu``, the
    default, keeps grades reproducible; ``cuda`` uses a GPU); the judge always computes on the CPU. Returns the rows, one per submitted file, in file-name order.
    """
    require_lesson(lesson)
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise CourseError(f"submissions folder {submissions} does not exist")
    files = sorted(p for p in submissions.iterdir() if p.suffix == ".ipynb" and p.is_file())
    if not files:
        raise CourseError(f"no .ipynb files in {submissions}")
    root = (out / "nbgrader").resolve()
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    workers = max(1, workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    reason = sandbox_unavailable() if sandbox else "turned off with --no-sandbox"
    if reason:
        print(NO_SANDBOX_WARNING.format(reason=reason), file=sys.stderr)
    jupyter_path = prepare_course(lesson, root, db_url=db_url, cell_timeout=cell_timeout, memory_mb=memory_mb,
                                  threads=threads, sandboxed=reason is None, device=device)
    grader = Grader(lesson, root, db_url, jupyter_path, notebook_timeout, reason is None, workers)
    students = student_ids(files)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(grader.grade_one, students, students.values()))
    finally:
        grader.close()
    grader.fill_scores(rows)
    with ThreadPoolExecutor(max_workers=2) as pool:  # both only read the gradebook
        export = pool.submit(run_nbgrader, root, "export", f"--to={out / 'nbgrader_export.csv'}", "--log-level=WARN")
        publish_feedback(lesson, root, out, rows)
        export.result()
    write_csv(rows, out / "grades.csv")
    return rows


def publish_feedback(lesson: str, root: Path, out: Path, rows: list[Row]) -> None:
    """Generate nbgrader's feedback pages and copy each graded student's to ``out/feedback/<student>/``.

    A student whose submission was not graded this time keeps no feedback from an earlier run.
    """
    graded = [row.student for row in rows if row.status not in NOT_GRADED and row.score is not None]
    if graded:
        run_nbgrader(root, "generate_feedback", lesson, "--force", "--log-level=WARN")
    for row in rows:
        target = out / "feedback" / row.student
        shutil.rmtree(target, ignore_errors=True)
        pages = root / "feedback" / row.student / lesson
        if row.student in graded and pages.is_dir():
            shutil.copytree(pages, target)
