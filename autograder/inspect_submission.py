"""Read a submitted notebook and compare it with the release, before nbgrader grades it."""

from dataclasses import dataclass

import nbformat


@dataclass
class Inspection:
    """What the pre-check found: ``status`` is ``ok``, ``unreadable``, ``wrong-lesson`` or ``tampered``."""

    status: str
    detail: str = ""


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _protected(cell) -> bool:
    """Cells a student may not change: tests and other locked cells."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked")) or (bool(meta.get("grade")) and not meta.get("solution"))


def inspect(path, release_nb) -> Inspection:
    """Classify the submission at ``path`` against the release notebook ``release_nb``.

    ``tampered`` means a test or locked cell was edited, deleted, duplicated or re-labelled, or a
    graded cell's nbgrader metadata (points, grade, solution) was changed.
    """
    try:
        submission = nbformat.read(path, as_version=4)
        cells = submission.cells
    except Exception as err:  # any parse failure: JSON, encoding, schema
        return Inspection("unreadable", f"not a readable notebook ({type(err).__name__})")
    if not cells:
        return Inspection("unreadable", "the notebook has no cells")
    expected = {_grade_id(c): c for c in release_nb.cells if _grade_id(c)}
    seen: dict[str, list] = {}
    for cell in cells:
        if _grade_id(cell):
            seen.setdefault(_grade_id(cell), []).append(cell)
    if not set(seen) & set(expected):
        return Inspection("wrong-lesson", "no exercise of this lesson was found in the notebook")
    problems = []
    for grade_id, cell in expected.items():
        copies = seen.get(grade_id, [])
        if len(copies) > 1:
            problems.append(f"{grade_id}: duplicated")
            continue
        if not copies:
            if _protected(cell):
                problems.append(f"{grade_id}: deleted")
            continue
        mine = copies[0]
        if mine.cell_type != cell.cell_type:
            problems.append(f"{grade_id}: cell type changed")
        elif _protected(cell) and mine.source != cell.source:
            problems.append(f"{grade_id}: edited")
        else:
            theirs = {k: v for k, v in mine.metadata.get("nbgrader", {}).items() if k != "checksum"}
            ours = {k: v for k, v in cell.metadata.get("nbgrader", {}).items() if k != "checksum"}
            if theirs != ours:
                problems.append(f"{grade_id}: grading metadata changed")
    for grade_id in set(seen) - set(expected):
        problems.append(f"{grade_id}: not a cell of this lesson")
    if problems:
        return Inspection("tampered", "; ".join(sorted(problems)))
    return Inspection("ok")
