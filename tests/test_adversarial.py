"""Attacks and runaways graded end to end: nobody forges a verdict, reads what is not theirs or breaks the batch."""

import csv
import socket
import subprocess
import threading
from pathlib import Path

import nbformat
import pytest

from autograder import grade as grade_module
from autograder.course import DEFAULT_CELL_TIMEOUT
from autograder.grade import grade
from autograder.preprocessors import HIDDEN_BEGIN, OUTPUT_BYTES
from autograder.sandbox import unavailable
from tests.classes.adversarial import SLEEP_MARKER, attackers, kernel_state_poisoners, runaways
from tests.notebooks import REPO

LESSONS = ["01-copy-through", "06-convolutional"]  # the runaways only in the first (each costs a time limit)
# In the second lesson (a convolutional model crosses to the judge) only the attacks that go through what
# crosses: the answer itself, and the torch it is built with. The rest attack the pipeline, the same
# whatever the lesson, and each costs a whole run of the notebook.
VERDICT_ATTACKS = {"patches-comparisons", "returns-a-liar", "replaces-the-answerer"}
pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"no sandbox here: {unavailable()}")


@pytest.fixture
def listener():
    """A loopback TCP server that records every connection (sandboxed kernels must not reach it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    calls, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                calls.append(server.accept()[0].recv(100))
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], calls
    stop.set()
    thread.join()
    server.close()


def _table(out: Path) -> dict:
    with open(out / "grades.csv", newline="") as handle:
        return {row["student"]: (float(row["score"]), row["status"]) for row in csv.DictReader(handle)}


def _untouched(root: Path, lesson: str) -> None:
    """The course's own files are as grading made them: the source is the instructor's, nothing became
    a link or writable by others, and the gradebook is a plain file."""
    source = root / "source" / lesson / f"{lesson}.ipynb"
    assert source.read_bytes() == (REPO / "solutions" / lesson / f"{lesson}.ipynb").read_bytes()
    for path in [*(root / "source").rglob("*"), *(root / "release").rglob("*"), root / "gradebook.db"]:
        assert not path.is_symlink() and not path.stat().st_mode & 0o002, f"{path} was changed"
    assert (root / "gradebook.db").is_file()


def _hidden_lines(lesson: str) -> list[str]:
    """Lines of the lesson's hidden tests long enough to be recognised if they leaked."""
    nb = nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    hidden = [c.source.partition(HIDDEN_BEGIN)[2] for c in nb.cells if HIDDEN_BEGIN in c.source]
    return [line.strip() for part in hidden for line in part.splitlines()
            if len(line.strip()) > 40 and "END HIDDEN" not in line]


@pytest.mark.parametrize("lesson", LESSONS)
def test_attacks_and_runaways_get_exactly_their_grades(lesson, listener, tmp_path):
    port, calls = listener
    students = (attackers(lesson, port) + runaways(lesson) if lesson == LESSONS[0] else
                [s for s in attackers(lesson, port) if s.name in VERDICT_ATTACKS])
    folder = tmp_path / "export"
    folder.mkdir()
    for student in students:
        student.write(lesson, folder)
    out = tmp_path / "out"
    # The runaways (in the first lesson only) are stopped by a short cell limit: 01's cells take seconds.
    cell_limit = 60 if lesson == LESSONS[0] else DEFAULT_CELL_TIMEOUT
    grade(lesson, folder, out, workers=2, cell_timeout=cell_limit)

    assert _table(out) == {s.name: (float(s.score), s.status) for s in students}
    assert calls == [], "a submission reached the network"
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {SLEEP_MARKER}"], capture_output=True, text=True).stdout
    assert leftovers == "", "processes a submission started outlived its kernel"
    hidden = _hidden_lines(lesson)
    for student in students:
        pages = out / "feedback" / student.name
        assert sorted(p.name for p in pages.iterdir()) == [f"{lesson}.html"], f"{student.name}: only its page comes back"
        html = (pages / f"{lesson}.html").read_text()
        assert not [line for line in hidden if line in html], f"{student.name}: hidden test code in its feedback"
        assert "<script>document.title" not in html and '<img src="x" onerror' not in html, \
            f"{student.name}: a script of the student's in its feedback"
    _untouched(out / "nbgrader", lesson)


def test_a_poisoned_kernel_spoils_nothing_for_the_next_student(tmp_path):
    """Graded one after another on one worker: the junk a kernel leaves (connection folder, /tmp) and the
    resources it uses up (/dev/shm, /tmp, a huge file, a flood of output) cost nobody a point."""
    lesson = LESSONS[0]
    students = kernel_state_poisoners(lesson)
    folder = tmp_path / "export"
    folder.mkdir()
    for student in students:
        student.write(lesson, folder)
    grade(lesson, folder, tmp_path / "out", workers=1)
    assert _table(tmp_path / "out") == {s.name: (float(s.score), s.status) for s in students}
    flood = tmp_path / "out" / "nbgrader" / "autograded" / students[1].name / lesson / f"{lesson}.ipynb"
    assert flood.stat().st_size < 3 * OUTPUT_BYTES, "a flood of output is cut as it streams"
    assert (tmp_path / "out" / "feedback" / students[1].name / f"{lesson}.html").stat().st_size < 4 * OUTPUT_BYTES


def test_the_attacks_win_points_on_stock_nbgrader(monkeypatch, tmp_path):
    """The corpus has teeth: with nbgrader's own Execute and no sandbox, forging and stealing pay."""
    real_config = grade_module.write_config

    def stock_config(root, **kwargs):
        real_config(root, **kwargs)
        path = root / "nbgrader_config.py"
        text = path.read_text().replace("[JudgedExecute,", "[Execute,")
        path.write_text(text.replace("from nbgrader.preprocessors import (", "from nbgrader.preprocessors import (Execute, "))

    monkeypatch.setattr(grade_module, "write_config", stock_config)
    lesson = LESSONS[0]
    attacks = {s.name: s for s in attackers(lesson, port=9)}
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("patches-comparisons", "swallows-errors", "reads-the-solutions"):
        attacks[name].write(lesson, folder)
    rows = grade_module.grade(lesson, folder, tmp_path / "out", workers=2, sandbox=False)
    assert all(row.score > attacks[row.student].score for row in rows), [(r.student, r.score) for r in rows]
