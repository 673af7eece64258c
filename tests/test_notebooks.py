"""Every solution runs cleanly and its demo responds; the release is current and stored clean.

(That the release fails only where a student must write code is checked on the graded blank
submission, in test_grading.)
"""

import json

import nbformat
import pytest

from autograder.release import release
from tests.notebooks import DEMO_PROBE, LESSON_IDS, REPO, errors, execute, is_test_cell


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_solution_runs_and_its_demo_responds(lesson):
    nb = execute(REPO / "solutions" / lesson / f"{lesson}.ipynb", allow_errors=True, probe=DEMO_PROBE)
    failed = [f"cell {i}: {e}" for i, c in enumerate(nb.cells) if c.cell_type == "code" for e in errors(c)]
    assert not failed, "the solution notebook raised:\n" + "\n".join(failed)
    stderr = [c.source[:60] for c in nb.cells if is_test_cell(c)
              for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"test cells wrote to stderr, which nbgrader scores as a failure: {stderr}"
    assert "demo redraws" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)


def test_lessons_equal_a_fresh_release(tmp_path):
    release(target=tmp_path)
    for lesson in LESSON_IDS:
        fresh = json.loads((tmp_path / lesson / f"{lesson}.ipynb").read_text())
        committed = json.loads((REPO / "lessons" / lesson / f"{lesson}.ipynb").read_text())
        assert committed == fresh, f"lessons/{lesson} is stale: run `make release` and commit it"
    assert sorted(p.name for p in (REPO / "lessons").iterdir() if p.is_dir()) == LESSON_IDS


@pytest.mark.parametrize("folder", ["solutions", "lessons"])
def test_notebooks_are_stored_without_outputs(folder):
    for path in sorted((REPO / folder).glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.relative_to(REPO)} has outputs in cells {dirty}"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_solution_follows_the_lesson_anatomy(lesson):
    nb = nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "What you will learn" in text and "Summary" in text and "Further reading" in text
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids))
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests and all(c.source.startswith('"""') for c in tests), "every test cell opens with a docstring"
    assert any(c.cell_type == "markdown" and c.metadata["nbgrader"].get("solution")
               for c in nb.cells if "nbgrader" in c.metadata), "a written question"
