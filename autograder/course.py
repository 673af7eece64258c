"""Where things are, and the nbgrader configuration every step shares."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
GRADER_KERNEL = "aelib-grader"
# Seconds a cell may run: a test cell may train a model twice, which on a core shared with other
# workers can take minutes (the CLI's --timeout).
DEFAULT_CELL_TIMEOUT = 300


class CourseError(Exception):
    """An instructor's mistake (unknown lesson, missing folder): reported in one line, exit 2."""


def lesson_ids() -> list[str]:
    """The lessons in ``solutions/``, in course order."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())


def require_lesson(lesson: str) -> str:
    """Return ``lesson`` if it exists in ``solutions/``, else raise :class:`CourseError`."""
    known = lesson_ids()
    if lesson not in known:
        raise CourseError(f"unknown lesson {lesson!r}; known lessons: {', '.join(known)}")
    return lesson


def write_config(root: Path, *, source: Path, release: Path, db_url: str | None = None,
                 cell_timeout: int = 60) -> None:
    """Write ``root/nbgrader_config.py`` for a course whose steps live under ``root``.

    ``source`` and ``release`` may lie elsewhere (the repository's ``solutions/`` and ``lessons/``);
    submitted, autograded and feedback folders and the gradebook stay under ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    settings = {
        "CourseDirectory.root": str(root),
        "CourseDirectory.source_directory": str(source),
        "CourseDirectory.release_directory": str(release),
        "CourseDirectory.submitted_directory": "submitted",
        "CourseDirectory.autograded_directory": "autograded",
        "CourseDirectory.feedback_directory": "feedback",
        "CourseDirectory.db_url": db_url,
        # The course every nbgrader step files its rows under. nbgrader's preprocessors open the
        # gradebook with its default course; the apps with this setting, whose default ("") names no
        # course row at all, which SQLite lets pass and PostgreSQL's foreign keys refuse.
        "CourseDirectory.course_id": "default_course",
        "Execute.timeout": int(cell_timeout),
        "Execute.kernel_name": GRADER_KERNEL,
        "Execute.shutdown_kernel": "immediate",
        # A cell's last outputs may trail its reply on a busy machine: wait for them, and never fail
        # the whole notebook over them (verdicts are the judge's; outputs only fill the feedback).
        "Execute.iopub_timeout": 30,
        "Execute.raise_on_iopub_timeout": False,
        "OverwriteCells.add_missing_cells": True,
        "HTMLExporter.sanitize_html": True,  # feedback pages and Formgrader show student output without scripts
        "ClearSolutions.code_stub": {"python": "# YOUR CODE HERE\nraise NotImplementedError()"},
    }
    lines = [
        "# Written by autograder; edit the command-line options instead.",
        "from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor",
        "from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, GetGrades,",
        "    IgnorePattern, LimitOutput, SaveAutoGrades)",
        "from autograder.preprocessors import HideHiddenTests, JudgedExecute",
        "c = get_config()  # noqa",
        "c.Autograde.autograde_preprocessors = [JudgedExecute, IgnorePattern, ClearMetadataPreprocessor,",
        "    LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]",
        "c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]",
    ]
    for key, value in settings.items():
        lines.append(f"c.{key} = {value!r}")
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def compute_env(threads: int) -> dict[str, str]:
    """Environment variables of a grading process (kernel or judge) that computes on ``threads`` threads:
    idle OpenMP threads sleep, progress bars are off, plots render off-screen."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": "PASSIVE",
            "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}


def write_kernel(root: Path, memory_mb: int, threads: int, sandboxed: bool = False, device: str = "cpu") -> Path:
    """Install the grading kernelspec under ``root/jupyter`` and return that data folder.

    The kernel is this interpreter started through :mod:`autograder.kernel`, which caps its
    memory at ``memory_mb`` MiB; it computes on ``threads`` threads (parallel kernels that
    together ask for more threads than there are cores slow each other down many times over), its
    idle OpenMP threads sleep instead of spinning (spinning threads, with one core taken by anything
    else, made a 2-second training cell take over 2 minutes), progress bars are off and plots render
    off-screen. ``sandboxed``: the kernel starts inside
    :mod:`autograder.sandbox` (interrupted by message, as a signal would stop the sandbox instead).
    ``device``: where the student's code computes (``AELIB_DEVICE`` in the kernel: ``cpu``, ``cuda``, ...).
    """
    data_dir = root / "jupyter"
    spec_dir = data_dir / "kernels" / GRADER_KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "autograder.sandbox" if sandboxed else "autograder.kernel", str(memory_mb),
                 "-f", "{connection_file}"],
        "display_name": "aelib grader",
        "interrupt_mode": "message" if sandboxed else "signal",
        "language": "python",
        "env": {**compute_env(threads), "AELIB_DEVICE": device},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return data_dir


def run_nbgrader(root: Path, *args: str, timeout: float | None = None, jupyter_path: Path | None = None,
                 env: dict | None = None):
    """Run ``nbgrader ARGS`` with ``root`` as the course folder; return the CompletedProcess.

    nbgrader starts ``alembic`` by name, so this interpreter's ``bin/`` goes first on PATH; ``env``
    adds environment variables. Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds
    (the process group is killed).
    """
    env = {**os.environ, **(env or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if jupyter_path is not None:
        env["JUPYTER_PATH"] = str(jupyter_path)
    process = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, output, None)
