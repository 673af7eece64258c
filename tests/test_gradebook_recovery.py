"""A PostgreSQL gradebook works as SQLite does, and a grading run killed part way is simply run again."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.course import COURSE_ID
from autograder.grade import grade
from tests.classes import CLASSES
from tests.notebooks import REPO

PG_BIN = Path("/usr/lib/postgresql")
LESSON = "01-copy-through"


def _postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs, if installed."""
    found = sorted(PG_BIN.glob("*/bin/pg_ctl"))
    return found[-1].parent if found else (Path(shutil.which("pg_ctl")).parent if shutil.which("pg_ctl") else None)


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL server listening on a socket in ``tmp_path``; yields its URL."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="aelib-pg-"))  # not under tmp_path: its parents are private to root
    if as_owner:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", "54329"
    subprocess.run([*as_owner, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "start",
                    "-o", f"-k {folder} -p {port} -c listen_addresses=''"], check=True, capture_output=True)
    try:
        subprocess.run([*as_owner, bin_dir / "createdb", "-h", folder, "-p", port, "-U", "postgres", "gradebook"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@/gradebook?host={folder}&port={port}"
    finally:
        subprocess.run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_run_on_postgresql_graded_again_has_everyone_once(postgres_url, tmp_path):
    students = [s for s in CLASSES[LESSON] if s.name in ("reference", "blank", "sum-not-mean", "broken-upload")]
    folder, out = tmp_path / "export", tmp_path / "out"
    folder.mkdir()
    for student in students:
        student.write(LESSON, folder)
    command = [sys.executable, "-m", "autograder", "grade", LESSON, str(folder), "--out", str(out), "--db", postgres_url]
    run = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    autograded = out / "nbgrader" / "autograded"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (autograded.is_dir() and any(autograded.iterdir())):
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # part way: one submission graded, the others not yet
    run.wait()
    assert not (out / "grades.csv").exists()

    rows = grade(LESSON, folder, out, db_url=postgres_url, workers=2)
    expected = {s.name: (float(s.score), s.status) for s in students}
    assert {r.student: (r.score, r.status) for r in rows} == expected
    with open(out / "grades.csv", newline="") as handle:
        table = [(row["student"], float(row["score"]), row["status"]) for row in csv.DictReader(handle)]
    assert sorted(table) == sorted((name, *grade_status) for name, grade_status in expected.items())
    with Gradebook(postgres_url, course_id=COURSE_ID) as gb:
        graded = sorted(s.student.id for s in gb.find_assignment(LESSON).submissions)
    assert graded == sorted(s.name for s in students if s.status == "ok"), "each graded student once, nothing else"
