"""A grading run killed part way is simply run again: every student graded once, nothing lost or doubled."""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time

from nbgrader.api import Gradebook

from autograder.grade import grade
from tests.classes import CLASSES
from tests.notebooks import REPO

LESSON = "01-copy-through"


def test_a_killed_run_graded_again_has_everyone_once(tmp_path):
    students = [s for s in CLASSES[LESSON] if s.name in ("reference", "blank", "sum-not-mean", "broken-upload")]
    folder, out = tmp_path / "export", tmp_path / "out"
    folder.mkdir()
    for student in students:
        student.write(LESSON, folder)
    command = [sys.executable, "-m", "autograder", "grade", LESSON, str(folder), "--out", str(out)]
    run = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    autograded = out / "nbgrader" / "autograded"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run.poll() is None and not (autograded.is_dir() and any(autograded.iterdir())):
            time.sleep(0.2)
        assert run.poll() is None, f"the first run ended on its own: {run.stderr.read()[-2000:]}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # part way: one submission graded, the others not yet
        run.wait()
    assert not (out / "grades.csv").exists()

    rows = grade(LESSON, folder, out, workers=2)
    expected = {s.name: (float(s.score), s.status) for s in students}
    assert {r.student: (r.score, r.status) for r in rows} == expected
    with open(out / "grades.csv", newline="") as handle:
        table = [(row["student"], float(row["score"]), row["status"]) for row in csv.DictReader(handle)]
    assert sorted(table) == sorted((name, *grade_status) for name, grade_status in expected.items())
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        graded = sorted(s.student.id for s in gb.find_assignment(LESSON).submissions)
    assert graded == sorted(s.name for s in students if s.status == "ok"), "each graded student once, nothing else"
