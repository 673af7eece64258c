"""Attacks and runaways graded end to end: nobody forges a verdict, reads what is not theirs or breaks the batch."""

import csv
import socket
import subprocess
import threading

import pytest

from autograder import grade as grade_module
from autograder.grade import grade
from autograder.sandbox import unavailable
from tests.classes.adversarial import SLEEP_MARKER, attackers, runaways

LESSONS = ["01-copy-through", "06-convolutional"]  # the runaways only in the first (each costs a time limit)
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


@pytest.mark.parametrize("lesson", LESSONS)
def test_attacks_and_runaways_get_exactly_their_grades(lesson, listener, tmp_path):
    port, calls = listener
    students = attackers(lesson, port) + (runaways(lesson) if lesson == LESSONS[0] else [])
    folder = tmp_path / "export"
    folder.mkdir()
    for student in students:
        student.write(lesson, folder)
    grade(lesson, folder, tmp_path / "out", workers=2, cell_timeout=60)

    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        table = {row["student"]: (float(row["score"]), row["status"]) for row in csv.DictReader(handle)}
    assert table == {s.name: (float(s.score), s.status) for s in students}
    assert calls == [], "a submission reached the network"
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {SLEEP_MARKER}"], capture_output=True, text=True).stdout
    assert leftovers == "", "processes a submission started outlived its kernel"


def test_the_attacks_win_points_on_stock_nbgrader(monkeypatch, tmp_path):
    """The corpus has teeth: with nbgrader's own Execute and no sandbox, forging and stealing pay."""
    real_config = grade_module.write_config

    def stock_config(root, **kwargs):
        real_config(root, **kwargs)
        path = root / "nbgrader_config.py"
        text = path.read_text().replace("[GuardedExecute,", "[Execute,")
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
