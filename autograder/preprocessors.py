"""nbgrader preprocessors the course adds to autograding and feedback.

* :class:`StderrIsNotFailure` (after execution): a test cell that passes keeps its points even when
  the student's code printed to stderr or raised a warning while the test ran; stock nbgrader
  scores any stderr output as a failure.
* :class:`HideHiddenTests` (feedback): test cells show only their visible part, and a failure
  shows the test's name and message, never hidden test code (not in the cell, not in the traceback).
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded, not an answer, code."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


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
