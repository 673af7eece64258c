"""A grading run killed part way is simply run again: every student graded once, nothing lost or doubled.

Run on both gradebooks: SQLite (the default) and a real PostgreSQL server the test starts.
"""

import contextlib
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

from autograder.grade import grade
from tests.classes import CLASSES
from tests.notebooks import REPO

LESSON = "01-copy-through"
PG_PORT = "54329"


def _postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (``initdb``, ``pg_ctl``), if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    on_path = shutil.which("pg_ctl")
    return found[-1].parent if found else Path(on_path).parent if on_path else None


@contextlib.contextmanager
def postgres_server():
    """Start a throw-away PostgreSQL server on a Unix socket; yield the URL of its ``gradebook`` database."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    folder = Path(tempfile.mkdtemp(prefix="aelib-pg-"))  # pytest's tmp_path is private to its owner
    if as_owner:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run([*as_owner, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "start",
                    "-o", f"-k {folder} -p {PG_PORT} -c listen_addresses=''"], check=True, capture_output=True)
    try:
        subprocess.run([*as_owner, bin_dir / "createdb", "-h", folder, "-p", PG_PORT, "-U", "postgres", "gradebook"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@/gradebook?host={folder}&port={PG_PORT}"
    finally:
        subprocess.run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook_url(request, tmp_path):
    """The gradebook's URL: SQLite in the course folder (``None``, the default) or a PostgreSQL server."""
    if request.param == "sqlite":
        yield None
    else:
        with postgres_server() as url:
            yield url


def test_a_killed_run_graded_again_has_everyone_once(tmp_path, gradebook_url):
    students = [s for s in CLASSES[LESSON] if s.name in ("reference", "blank", "sum-not-mean", "broken-upload")]
    folder, out = tmp_path / "export", tmp_path / "out"
    folder.mkdir()
    for student in students:
        student.write(LESSON, folder)
    command = [sys.executable, "-m", "autograder", "grade", LESSON, str(folder), "--out", str(out)]
    command += ["--db", gradebook_url] if gradebook_url else []
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

    rows = grade(LESSON, folder, out, workers=2, db_url=gradebook_url)
    expected = {s.name: (float(s.score), s.status) for s in students}
    assert {r.student: (r.score, r.status) for r in rows} == expected
    with open(out / "grades.csv", newline="") as handle:
        table = [(row["student"], float(row["score"]), row["status"]) for row in csv.DictReader(handle)]
    assert sorted(table) == sorted((name, *grade_status) for name, grade_status in expected.items())
    with Gradebook(gradebook_url or f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        graded = sorted(s.student.id for s in gb.find_assignment(LESSON).submissions)
    assert graded == sorted(s.name for s in students if s.status == "ok"), "each graded student once, nothing else"
