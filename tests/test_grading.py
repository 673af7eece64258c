"""The grading pipeline end to end: a made-up class gets exactly the grades it should."""

import csv
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder.grade import grade
from tests.classes import CLASSES
from tests.classes.adversarial import runaways
from tests.notebooks import REPO, errors, is_test_cell, unexpected_errors


def _read_csv(path):
    with open(path, newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


SERIAL_TOO = "04-denoising"  # a quick class is also graded serially: the two runs must agree


@pytest.mark.parametrize("lesson", sorted(CLASSES))
def test_a_class_gets_the_expected_grades(lesson, tmp_path):
    students = CLASSES[lesson]
    folder = tmp_path / "export"
    folder.mkdir()
    for student in students:
        student.write(lesson, folder)
    out = tmp_path / "out"
    grade(lesson, folder, out, workers=2)  # the default cell limit: a right answer is never "timeout"

    table = _read_csv(out / "grades.csv")
    assert sorted(table) == sorted(s.name for s in students), "exactly one row per submission"
    full = float(table[students[0].name]["max_score"])
    got = {name: (float(row["score"]), row["status"]) for name, row in table.items()}
    expected = {s.name: (float(s.score), s.status) for s in students}
    assert got == expected
    assert all(float(row["max_score"]) == full and row["lesson"] == lesson for row in table.values())
    _check_the_blank_release(lesson, students, out)
    for student in students:
        page = out / "feedback" / student.name / f"{lesson}.html"
        assert page.exists() == (student.status not in ("unreadable", "wrong-lesson")), student.name
        if page.exists():
            html = page.read_text()
            assert "HIDDEN TESTS" not in html and "hidden tests ran here" in html.lower(), student.name
    if lesson == SERIAL_TOO:  # two of the class again (blank, partly wrong), one after another on one worker: the same rows
        few = tmp_path / "few"
        few.mkdir()
        for student in students[1:3]:
            student.write(lesson, few)
        grade(lesson, few, tmp_path / "serial", workers=1)
        assert _read_csv(tmp_path / "serial" / "grades.csv") == {s.name: table[s.name] for s in students[1:3]}


def _check_the_blank_release(lesson, students, out):
    """The blank release, as graded, fails only at its stubs (and what they leave undefined), and
    in every test: no free points, no error a student did not cause."""
    blank = next(s for s in students if s.blank and not s.answers and not s.tamper)
    nb = nbformat.read(out / "nbgrader" / "autograded" / blank.name / lesson / f"{lesson}.ipynb", as_version=4)
    assert unexpected_errors(nb) == []
    passing = [c.metadata.nbgrader.grade_id for c in nb.cells if is_test_cell(c) and not errors(c)]
    assert passing == [], f"these tests pass on the blank release, so they give free points: {passing}"


def test_a_failed_regrade_replaces_the_old_score(tmp_path):
    lesson = "01-copy-through"
    reference = CLASSES[lesson][0]
    folder, out = tmp_path / "export", tmp_path / "out"
    folder.mkdir()
    reference.write(lesson, folder)
    first = grade(lesson, folder, out)
    assert (first[0].score, first[0].status) == (first[0].max_score, "ok")

    (folder / f"{reference.name}.ipynb").write_text("not a notebook any more")
    second = grade(lesson, folder, out)
    assert (second[0].score, second[0].status) == (0, "unreadable")
    assert _read_csv(out / "grades.csv")[reference.name]["status"] == "unreadable"
    assert not (out / "feedback" / reference.name).exists()
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        with pytest.raises(MissingEntry):
            gb.find_submission(lesson, reference.name)


@pytest.mark.parametrize("args, message", [
    (["grade", "99-nothing", "somewhere", "--out", "x"], "unknown lesson '99-nothing'"),
    (["grade", "01-copy-through", "no-such-folder", "--out", "x"], "does not exist"),
    (["release", "99-nothing"], "unknown lesson"),
])
def test_instructor_mistakes_get_one_line_and_exit_2(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_notebook_past_its_time_limit_costs_only_its_own_row(tmp_path):
    """The grading process running it is killed; the next student, on the same worker, is graded in full."""
    lesson = "01-copy-through"
    endless = next(s for s in runaways(lesson) if s.name == "endless-loop")
    reference = CLASSES[lesson][0]
    folder = tmp_path / "export"
    folder.mkdir()
    for student in (endless, reference):  # graded in this order: file names sort so
        student.write(lesson, folder)
    rows = grade(lesson, folder, tmp_path / "out", workers=1, cell_timeout=600, notebook_timeout=60)
    got = {row.student: (row.score, row.status) for row in rows}
    assert got == {endless.name: (0, "timeout"), reference.name: (reference.score, "ok")}
    assert "notebook ran past 60 s" in rows[0].detail
    assert not (tmp_path / "out" / "feedback" / endless.name).exists()
