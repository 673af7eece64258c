"""nbgrader preprocessors the course adds to autograding and feedback.

* :class:`GuardedExecute` (replaces nbgrader's Execute): before every test cell, the kernel puts
  back what student code may have patched (:mod:`autograder.guard`), so the test's verdict is the
  test's own.
* :class:`StderrIsNotFailure` (after execution): a test cell that passes keeps its points even when
  the student's code printed to stderr or raised a warning while the test ran; stock nbgrader
  scores any stderr output as a failure.
* :class:`HideHiddenTests` (feedback): test cells show only their visible part, and a failure
  shows the test's name and message, never hidden test code (not in the cell, not in the traceback).
"""

import ast
import re
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, not an answer, code."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def instructor_code(release_notebook: Path) -> tuple[str, str]:
    """(import statements, locked cells' code) of the instructor's release notebook.

    Imports are the top-level ``import`` statements of the cells that are neither answers nor
    tests; locked cells are the read-only cells that are not tests (e.g. the data set).
    """
    nb = nbformat.read(release_notebook, as_version=4)
    imports, locked = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        if meta.get("locked"):
            locked.append(cell.source)
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        imports += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(imports), "\n".join(locked)


def last_graded_cell(nb) -> int:
    """Index of the last answer or test cell of ``nb`` (past the end when it has none)."""
    graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
              (c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution"))]
    return max(graded, default=len(nb.cells))


PUT_BACK = "__import__('autograder.guard', fromlist=['put_back']).put_back()"


class GuardedExecute(Execute):
    """nbgrader's Execute, with a clean state put back in the kernel before each test cell.

    A guard that fails (student code broke the kernel's machinery beyond repair) fails the test
    that follows it: points are withheld, never given away. Cells after the last graded cell (the
    demos and what they precompute) cannot change a grade and are not run.
    """

    def preprocess(self, nb, resources, km=None):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]),
                       f"{info['notebook']}.ipynb")
        imports, locked = instructor_code(release)  # the instructor's, never the student's
        self._guard = (f"__import__('autograder.guard', fromlist=['restore']).restore("
                       f"imports={imports!r}, locked={locked!r})")
        self._last_graded = last_graded_cell(nb)
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if index > self._last_graded:
            return cell, resources
        if not is_test_cell(cell):
            return super().preprocess_cell(cell, resources, index)
        guard = self.execute_cell(nbformat.v4.new_code_cell(self._guard), index, store_history=False)
        broken = [o for o in guard.outputs if o.get("output_type") == "error"]
        cell, resources = super().preprocess_cell(cell, resources, index)
        self.execute_cell(nbformat.v4.new_code_cell(PUT_BACK), index, store_history=False)
        self.nb.cells[index] = cell  # nbclient files every executed cell under its index: keep the test's
        if broken:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="GraderGuardError",
                evalue="the grader could not restore a clean state before this test; its points are withheld",
                traceback=[f"GraderGuardError: {broken[0].get('ename')}: {broken[0].get('evalue')}"]))
        return cell, resources


class StderrIsNotFailure(NbGraderPreprocessor):
    """Turn stderr output of test cells into stdout, so only a raised error fails a test."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test code from test cells and from the tracebacks of their failures."""

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            return cell, resources
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        visible, hidden, _ = cell.source.partition(HIDDEN_BEGIN)
        if hidden:
            cell.source = visible.rstrip() + "\n# Hidden tests ran here; their code is not shown."
        own_frame = f"In[{cell.get('execution_count')}]"
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            frames = [f for f in output.get("traceback", []) if own_frame not in _ANSI.sub("", f)]
            # Keep the frames inside the student's own functions, drop the test cell's frames.
            student_frames = [f for f in frames[:-1] if re.search(r"(Cell|File) ", _ANSI.sub("", f))]
            summary = f"Test {grade_id} failed: {output.get('ename')}: {output.get('evalue')}"
            output["traceback"] = [summary, *student_frames]
        return cell, resources
