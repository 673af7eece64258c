"""Read a submitted notebook, compare it with the release, and rebuild it before nbgrader sees it.

What nbgrader grades is rebuilt from the release, cell by cell (:func:`inspect`): every test and
locked cell is the release's own (source and metadata, tags included), an answer cell keeps the
student's source under the release's metadata, and nbgrader metadata that the release does not
have (unknown grade ids, malformed values, copies of a cell) is taken off. So nothing a student
writes into a cell's metadata reaches nbgrader or the judge.
"""

import copy
import uuid
from dataclasses import dataclass

import nbformat

NBGRADER_KEYS = {"grade": bool, "solution": bool, "locked": bool, "task": bool, "grade_id": str,
                 "points": (int, float), "schema_version": int, "checksum": str, "cell_type": str}


@dataclass
class Inspection:
    """What the pre-check found: ``status`` is ``ok``, ``unreadable``, ``wrong-lesson`` or ``tampered``;
    ``notebook`` is what nbgrader grades (None when there is nothing to grade)."""

    status: str
    detail: str = ""
    notebook: nbformat.NotebookNode | None = None


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {"grade_id": None}


def _grade_id(cell) -> str | None:
    grade_id = _meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


def _well_formed(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    if meta is None:
        return True
    return isinstance(meta, dict) and all(k in NBGRADER_KEYS and isinstance(v, NBGRADER_KEYS[k])
                                          and not (NBGRADER_KEYS[k] is not bool and isinstance(v, bool))
                                          for k, v in meta.items())


def _protected(cell) -> bool:
    """Cells a student may not change: tests and other locked cells."""
    meta = _meta(cell)
    return bool(meta.get("locked")) or (bool(meta.get("grade")) and not meta.get("solution"))


def _plain(cell):
    """``cell`` without nbgrader metadata: an ordinary cell."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    return cell


def _without_checksum(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "checksum"}


def inspect(path, release_nb) -> Inspection:
    """Classify the submission at ``path`` against the release notebook ``release_nb`` and rebuild it.

    ``tampered`` means a test or locked cell was edited (source or metadata), deleted, duplicated
    or re-labelled, or nbgrader metadata was changed, added or malformed.
    """
    try:
        submission = nbformat.read(path, as_version=4)
        cells = list(submission.cells)
    except Exception as err:  # any parse failure: JSON, encoding, schema
        return Inspection("unreadable", f"not a readable notebook ({type(err).__name__})")
    if not cells:
        return Inspection("unreadable", "the notebook has no cells")
    expected = {_grade_id(c): c for c in release_nb.cells if _grade_id(c)}
    if not {_grade_id(c) for c in cells if _well_formed(c)} & set(expected):
        return Inspection("wrong-lesson", "no exercise of this lesson was found in the notebook")
    problems, seen, rebuilt = [], set(), []
    for cell in cells:
        grade_id = _grade_id(cell) if _well_formed(cell) else None
        if not _well_formed(cell):
            problems.append("malformed grading metadata")
        elif grade_id is None and "nbgrader" in cell.get("metadata", {}) and _meta(cell):
            problems.append("grading metadata on an ordinary cell")
        elif grade_id is not None and grade_id not in expected:
            problems.append(f"{grade_id}: not a cell of this lesson")
        if grade_id not in expected:
            rebuilt.append(_plain(cell))
            continue
        ours = expected[grade_id]
        if grade_id in seen:
            problems.append(f"{grade_id}: duplicated")
            if not _protected(ours) and cell.cell_type == ours.cell_type:
                rebuilt.append(_plain(cell))  # a copied answer still runs, as an ordinary cell
            continue
        seen.add(grade_id)
        if cell.cell_type != ours.cell_type:
            problems.append(f"{grade_id}: cell type changed")
        elif _protected(ours) and (cell.source != ours.source or cell.metadata.get("tags") != ours.metadata.get("tags")):
            problems.append(f"{grade_id}: edited")
        elif _without_checksum(_meta(cell)) != _without_checksum(_meta(ours)):
            problems.append(f"{grade_id}: grading metadata changed")
        if _protected(ours) or cell.cell_type != ours.cell_type:
            rebuilt.append(copy.deepcopy(ours))
        else:
            answer = copy.deepcopy(ours)
            answer.source = cell.source
            rebuilt.append(answer)
    previous = None
    for grade_id, ours in expected.items():
        if grade_id not in seen and _protected(ours):
            problems.append(f"{grade_id}: deleted")
            after = next((i for i, c in enumerate(rebuilt) if _grade_id(c) == previous), -1)
            rebuilt.insert(after + 1, copy.deepcopy(ours))
        previous = grade_id
    ids = set()
    for cell in rebuilt:
        if cell.get("id") in ids or not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:12]
        ids.add(cell["id"])
    notebook = nbformat.v4.new_notebook(cells=rebuilt, metadata=copy.deepcopy(release_nb.metadata))
    if problems:
        return Inspection("tampered", "; ".join(sorted(set(problems))), notebook)
    return Inspection("ok", "", notebook)
